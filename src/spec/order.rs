//! The dependency graph of units: cycle detection and who depends on whom. Pure data, no I/O.
//!
//! Every function here is linear in the number of units and `after` entries: names are
//! looked up in one hash map, and the cycle search keeps its path on the heap, so a spec of
//! 50,000 units or a 20,000-deep `after` chain neither takes seconds nor overflows the stack.

use super::types::UnitSpec;
use std::collections::HashMap;

/// Each unit name to the index of its first unit (a repeated name is the spec's problem to
/// report, not ours).
fn index_by_name(units: &[UnitSpec]) -> HashMap<&str, usize> {
    let mut index = HashMap::with_capacity(units.len());
    for (i, u) in units.iter().enumerate() {
        index.entry(u.name.as_str()).or_insert(i);
    }
    index
}

/// For each unit (by index), the indices of the units it waits for, in `after` order; unknown
/// names are left out.
fn edges(units: &[UnitSpec], index: &HashMap<&str, usize>) -> Vec<Vec<usize>> {
    units
        .iter()
        .map(|u| {
            u.after
                .iter()
                .filter_map(|dep| index.get(dep.as_str()).copied())
                .collect()
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unvisited,
    /// On the current search path, at this depth.
    OnPath(usize),
    Finished,
}

/// Returns every dependency cycle as unit names, first name repeated at the end
/// (`a -> b -> a`); units of a reported cycle are not reported again in another.
/// Unknown names in `after` are ignored here; the spec reports them separately.
///
/// A depth-first search from each name in name order, following `after` in the order written,
/// with an explicit stack: the first edge back onto the current path closes a cycle. After a
/// cycle is reported, its units and the path that led to it count as finished, so the search
/// goes on from the next name and finds the other cycles.
pub fn find_cycles(units: &[UnitSpec]) -> Vec<Vec<String>> {
    let index = index_by_name(units);
    let edges = edges(units, &index);
    let mut starts: Vec<usize> = index.values().copied().collect();
    starts.sort_unstable_by(|a, b| units[*a].name.cmp(&units[*b].name));
    let mut mark = vec![Mark::Unvisited; units.len()];
    // The search path: a unit and how many of its edges have been followed.
    let mut path: Vec<(usize, usize)> = Vec::new();
    let mut cycles = Vec::new();
    for start in starts {
        if mark[start] != Mark::Unvisited {
            continue;
        }
        mark[start] = Mark::OnPath(0);
        path.push((start, 0));
        while let Some((unit, next)) = path.last_mut() {
            let unit = *unit;
            let Some(&dep) = edges[unit].get(*next) else {
                mark[unit] = Mark::Finished;
                path.pop();
                continue;
            };
            *next += 1;
            match mark[dep] {
                Mark::Finished => {}
                Mark::Unvisited => {
                    mark[dep] = Mark::OnPath(path.len());
                    path.push((dep, 0));
                }
                Mark::OnPath(depth) => {
                    let mut cycle: Vec<String> = path[depth..]
                        .iter()
                        .map(|(u, _)| units[*u].name.clone())
                        .collect();
                    cycle.push(units[dep].name.clone());
                    cycles.push(cycle);
                    for (u, _) in path.drain(..) {
                        mark[u] = Mark::Finished;
                    }
                }
            }
        }
    }
    cycles
}

/// For each unit (by index), the indices of the units that list it in `after`.
pub fn dependents(units: &[UnitSpec]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); units.len()];
    for (i, deps) in dependencies(units).into_iter().enumerate() {
        for j in deps {
            out[j].push(i);
        }
    }
    out
}

/// For each unit (by index), the indices of the units it waits for.
pub fn dependencies(units: &[UnitSpec]) -> Vec<Vec<usize>> {
    edges(units, &index_by_name(units))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Spec;
    use std::path::Path;

    fn units(text: &str) -> Vec<UnitSpec> {
        let table: toml::Table = text.parse().unwrap();
        // Build through the parser but ignore its own cycle report: we test the graph here.
        let _ = table;
        match Spec::parse(text, Path::new("t.toml")) {
            Ok(s) => s.units,
            Err(_) => panic!("bad test spec"),
        }
    }

    #[test]
    fn no_cycle_in_a_diamond() {
        let u = units(
            r#"
            [service.a]
            command = ["x"]
            [service.b]
            command = ["x"]
            after = ["a"]
            [service.c]
            command = ["x"]
            after = ["a"]
            [service.d]
            command = ["x"]
            after = ["b", "c"]
            "#,
        );
        assert!(find_cycles(&u).is_empty());
        assert_eq!(dependents(&u)[0], vec![1, 2]);
        assert_eq!(dependencies(&u)[3], vec![1, 2]);
    }

    #[test]
    fn three_unit_cycle_is_named_in_order() {
        let mut u = units(
            r#"
            [service.a]
            command = ["x"]
            [service.b]
            command = ["x"]
            [service.c]
            command = ["x"]
            "#,
        );
        u[0].after = vec!["c".into()];
        u[1].after = vec!["a".into()];
        u[2].after = vec!["b".into()];
        assert_eq!(
            find_cycles(&u),
            vec![vec!["a".to_string(), "c".into(), "b".into(), "a".into()]]
        );
        // A second, separate cycle is reported too.
        let mut more = u.clone();
        let mut x = u[0].clone();
        x.name = "x".into();
        x.after = vec!["y".into()];
        let mut y = u[0].clone();
        y.name = "y".into();
        y.after = vec!["x".into()];
        more.push(x);
        more.push(y);
        assert_eq!(find_cycles(&more).len(), 2);
    }

    /// A spec whose units wait for the next one: `u00000 -> u00001 -> ...`, the deepest path a
    /// search from the first name can take; `close` makes the last unit wait for the first.
    fn chain_spec(n: usize, close: bool) -> String {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!("[service.u{i:05}]\ncommand = [\"true\"]\n"));
            if i + 1 < n {
                text.push_str(&format!("after = [\"u{:05}\"]\n", i + 1));
            } else if close {
                text.push_str("after = [\"u00000\"]\n");
            }
        }
        text
    }

    /// Runs `f` on a thread with a 256 KiB stack: a search that recursed once per unit of a
    /// 20,000-deep chain overflowed 2 MB.
    fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(f)
            .unwrap()
            .join()
            .expect("no stack overflow")
    }

    #[test]
    fn a_20000_deep_chain_is_checked_on_a_small_stack() {
        let text = chain_spec(20_000, false);
        let spec = on_small_stack(move || Spec::parse(&text, Path::new("t.toml")));
        let spec = spec.expect("a chain is a valid spec");
        assert_eq!(spec.units.len(), 20_000);
        assert_eq!(dependencies(&spec.units)[0], vec![1]);
        assert_eq!(dependents(&spec.units)[1], vec![0]);

        // Closed into one cycle through every unit: reported once, whole, in order.
        let text = chain_spec(20_000, true);
        let problems = on_small_stack(move || Spec::parse(&text, Path::new("t.toml")))
            .expect_err("a cycle is refused");
        assert_eq!(problems.len(), 1, "{:?}", problems[0].at);
        assert_eq!(problems[0].at, "service.u00000.after");
        let names: Vec<&str> = problems[0]
            .message
            .strip_prefix("dependency cycle: ")
            .unwrap()
            .split(" -> ")
            .collect();
        assert_eq!(names.len(), 20_001);
        assert_eq!(
            (names[0], names[19_999], names[20_000]),
            ("u00000", "u19999", "u00000")
        );
    }

    #[test]
    fn cycles_behind_a_reported_one_and_unknown_names() {
        // a -> b -> a is reported from a; c reaches that cycle and a separate c -> d -> c.
        let mut u = units(
            r#"
            [service.a]
            command = ["x"]
            [service.b]
            command = ["x"]
            [service.c]
            command = ["x"]
            [service.d]
            command = ["x"]
            "#,
        );
        u[0].after = vec!["ghost".into(), "b".into()];
        u[1].after = vec!["a".into()];
        u[2].after = vec!["a".into(), "d".into()];
        u[3].after = vec!["c".into()];
        assert_eq!(
            find_cycles(&u),
            vec![
                vec!["a".to_string(), "b".into(), "a".into()],
                vec!["c".to_string(), "d".into(), "c".into()],
            ]
        );
        assert_eq!(dependencies(&u)[0], vec![1], "unknown names are left out");
        assert_eq!(dependents(&u)[0], vec![1, 2]);
    }
}
