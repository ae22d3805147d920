//! The dependency graph of units: cycle detection and who depends on whom. Pure data, no I/O.

use crate::spec::UnitSpec;
use std::collections::BTreeMap;

/// Returns every dependency cycle as unit names, first name repeated at the end
/// (`a -> b -> a`); units of a reported cycle are not reported again in another.
/// Unknown names in `after` are ignored here; the spec reports them separately.
pub fn find_cycles(units: &[UnitSpec]) -> Vec<Vec<String>> {
    let index: BTreeMap<&str, &UnitSpec> = units.iter().map(|u| (u.name.as_str(), u)).collect();
    // 0 = unvisited, 1 = on the current path, 2 = finished.
    let mut mark: BTreeMap<&str, u8> = BTreeMap::new();
    let mut names: Vec<&str> = index.keys().copied().collect();
    names.sort_unstable();
    let mut cycles = Vec::new();
    for start in names {
        let mut path: Vec<&str> = Vec::new();
        if let Some(cycle) = visit(start, &index, &mut mark, &mut path) {
            // Close the cycle's units (and the path that led to it) so the search goes on.
            for name in path
                .iter()
                .chain(cycle.iter().map(|s| s.as_str()).collect::<Vec<_>>().iter())
            {
                if let Some((k, _)) = index.get_key_value(*name) {
                    mark.insert(k, 2);
                }
            }
            cycles.push(cycle);
        }
    }
    cycles
}

fn visit<'a>(
    name: &'a str,
    index: &BTreeMap<&'a str, &'a UnitSpec>,
    mark: &mut BTreeMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
) -> Option<Vec<String>> {
    match mark.get(name) {
        Some(2) => return None,
        Some(1) => {
            let from = path.iter().position(|n| *n == name).unwrap_or(0);
            let mut cycle: Vec<String> = path[from..].iter().map(|s| s.to_string()).collect();
            cycle.push(name.to_string());
            return Some(cycle);
        }
        _ => {}
    }
    let unit = index.get(name)?;
    mark.insert(name, 1);
    path.push(name);
    for dep in &unit.after {
        if let Some((dep_name, _)) = index.get_key_value(dep.as_str()) {
            if let Some(c) = visit(dep_name, index, mark, path) {
                return Some(c);
            }
        }
    }
    path.pop();
    mark.insert(name, 2);
    None
}

/// For each unit (by index), the indices of the units that list it in `after`.
pub fn dependents(units: &[UnitSpec]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); units.len()];
    for (i, u) in units.iter().enumerate() {
        for dep in &u.after {
            if let Some(j) = units.iter().position(|d| &d.name == dep) {
                out[j].push(i);
            }
        }
    }
    out
}

/// For each unit (by index), the indices of the units it waits for.
pub fn dependencies(units: &[UnitSpec]) -> Vec<Vec<usize>> {
    units
        .iter()
        .map(|u| {
            u.after
                .iter()
                .filter_map(|dep| units.iter().position(|d| &d.name == dep))
                .collect()
        })
        .collect()
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
}
