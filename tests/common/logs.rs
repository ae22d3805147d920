//! Reading jinit's log: the state transitions it prints (`jinit: UNIT: FROM -> TO`) and the
//! one-line-per-problem shape of its validation errors.

/// Whether `log` has a line `jinit: UNIT: FROM -> TO[ (detail)]` with the given unit and TO.
pub fn has_transition(log: &str, unit: &str, to: &str) -> bool {
    transitions(log, unit).iter().any(|(_, t)| t == to)
}

/// Every `(from, to)` transition of `unit` in `log`, in order.
pub fn transitions(log: &str, unit: &str) -> Vec<(String, String)> {
    let prefix = format!("jinit: {unit}: ");
    log.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (from, to) = rest.split_once(" -> ")?;
            let to = to.split(' ').next()?;
            Some((from.to_string(), to.to_string()))
        })
        .collect()
}

/// Index of the first log line showing `unit` entering `to`.
pub fn transition_line(log: &str, unit: &str, to: &str) -> Option<usize> {
    let prefix = format!("jinit: {unit}: ");
    log.lines().position(|l| {
        l.strip_prefix(&prefix)
            .and_then(|rest| rest.split_once(" -> "))
            .and_then(|(_, t)| t.split(' ').next())
            == Some(to)
    })
}

/// Index of the first log line showing `unit` leaving state `waiting`.
pub fn left_waiting_line(log: &str, unit: &str) -> Option<usize> {
    let prefix = format!("jinit: {unit}: waiting -> ");
    log.lines().position(|l| l.starts_with(&prefix))
}

/// Asserts some line of `text` contains every needle (a validation problem is one line).
pub fn assert_line_with(text: &str, needles: &[&str]) {
    assert!(
        text.lines().any(|l| needles.iter().all(|n| l.contains(n))),
        "no line contains all of {needles:?}; output:\n{text}"
    );
}
