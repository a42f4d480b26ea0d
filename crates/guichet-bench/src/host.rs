//! What the machine did while a load was measured: how busy each CPU was, how much of its time the
//! hypervisor gave to someone else (steal), and how much CPU the server process used.
//!
//! On a shared virtual machine the same build's figures move from run to run; these say why. A
//! server CPU near 100% means the figure is the server's; a steal of a few percent or more means
//! part of the figure is the host's. Read from `/proc/stat` and `/proc/PID/stat` (Linux); elsewhere
//! the line is left out.

/// Times of one CPU from `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuTimes {
    /// user + nice + system + idle + iowait + irq + softirq + steal.
    pub(crate) total: u64,
    /// idle + iowait.
    pub(crate) idle: u64,
    /// Time the hypervisor ran something else while this CPU had work.
    pub(crate) steal: u64,
}

/// One reading of the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sample {
    /// `(cpu number, times)` for every CPU line of `/proc/stat`.
    cpus: Vec<(u32, CpuTimes)>,
    /// utime + stime of the server process, in clock ticks.
    server_ticks: Option<u64>,
}

/// Clock ticks per second of `/proc`'s times (`USER_HZ`, 100 on Linux's x86 and arm ABIs).
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads the machine now; `None` where `/proc/stat` cannot be read.
pub(crate) fn sample(server_pid: Option<u32>) -> Option<Sample> {
    let cpus = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?);
    let server_ticks =
        server_pid.and_then(|pid| parse_pid_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?));
    Some(Sample { cpus, server_ticks })
}

/// The per-CPU lines (`cpu0 …`, not the `cpu` total) of `/proc/stat`.
fn parse_proc_stat(text: &str) -> Vec<(u32, CpuTimes)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let cpu: u32 = fields.next()?.strip_prefix("cpu")?.parse().ok()?;
            let v: Vec<u64> = fields.take(8).map(str::parse).collect::<Result<_, _>>().ok()?;
            let [user, nice, system, idle, iowait, irq, softirq, steal] = <[u64; 8]>::try_from(v).ok()?;
            let total = user + nice + system + idle + iowait + irq + softirq + steal;
            Some((cpu, CpuTimes { total, idle: idle + iowait, steal }))
        })
        .collect()
}

/// utime + stime of a `/proc/PID/stat` line (fields 14 and 15; the name in parentheses may hold
/// spaces, so they are counted from the last `)`).
fn parse_pid_stat(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

/// The report line for the window between two samples `secs` apart, e.g.
/// `server CPU 97.0%  busy cpu0 99.0% cpu1 98.0%  steal cpu0 1.0% cpu1 12.0%`.
pub(crate) fn describe(before: &Sample, after: &Sample, secs: f64) -> String {
    let mut line = String::new();
    if let (Some(a), Some(b)) = (before.server_ticks, after.server_ticks)
        && secs > 0.0
    {
        let cpu = b.saturating_sub(a) as f64 / TICKS_PER_SECOND / secs * 100.0;
        line.push_str(&format!("server CPU {cpu:.1}%  "));
    }
    let deltas: Vec<(u32, u64, u64, u64)> = after
        .cpus
        .iter()
        .filter_map(|(cpu, b)| {
            let (_, a) = before.cpus.iter().find(|(c, _)| c == cpu)?;
            Some((
                *cpu,
                b.total.saturating_sub(a.total),
                b.idle.saturating_sub(a.idle),
                b.steal.saturating_sub(a.steal),
            ))
        })
        .collect();
    line.push_str("busy");
    for (cpu, total, idle, _) in &deltas {
        line.push_str(&format!(" cpu{cpu} {:.1}%", share(total.saturating_sub(*idle), *total)));
    }
    line.push_str("  steal");
    for (cpu, total, _, steal) in &deltas {
        line.push_str(&format!(" cpu{cpu} {:.1}%", share(*steal, *total)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT_BEFORE: &str = "cpu  10 0 10 80 0 0 0 0 0 0\n\
        cpu0 5 0 5 40 0 0 0 0 0 0\n\
        cpu1 5 0 5 40 0 0 0 0 0 0\n\
        intr 1 2 3\nctxt 99\n";
    const STAT_AFTER: &str = "cpu  100 0 40 100 0 0 0 20 0 0\n\
        cpu0 50 0 20 40 10 0 0 0 0 0\n\
        cpu1 50 0 20 40 0 0 0 20 0 0\n\
        intr 1 2 3\nctxt 199\n";

    #[test]
    fn the_cpu_lines_are_read_and_the_total_line_is_not() {
        let cpus = parse_proc_stat(STAT_AFTER);
        assert_eq!(
            cpus,
            vec![(0, CpuTimes { total: 120, idle: 50, steal: 0 }), (1, CpuTimes { total: 130, idle: 40, steal: 20 }),]
        );
    }

    #[test]
    fn the_server_time_is_counted_after_a_name_with_spaces() {
        let line = "4242 (guichet (serve) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 1 0 123";
        assert_eq!(parse_pid_stat(line), Some(325));
        assert_eq!(parse_pid_stat("4242 (guichet) S 1"), None);
    }

    #[test]
    fn the_window_says_how_busy_each_cpu_was_and_what_was_stolen() {
        let before = Sample { cpus: parse_proc_stat(STAT_BEFORE), server_ticks: Some(100) };
        let after = Sample { cpus: parse_proc_stat(STAT_AFTER), server_ticks: Some(295) };
        // cpu0: 70 ticks of which 10 idle (iowait); cpu1: 80 ticks, none idle, 20 stolen. The
        // server used 195 ticks (1.95 s) of a 2 s window.
        assert_eq!(
            describe(&before, &after, 2.0),
            "server CPU 97.5%  busy cpu0 85.7% cpu1 100.0%  steal cpu0 0.0% cpu1 25.0%"
        );
        let unknown = Sample { server_ticks: None, ..after };
        assert_eq!(describe(&before, &unknown, 2.0), "busy cpu0 85.7% cpu1 100.0%  steal cpu0 0.0% cpu1 25.0%");
    }
}
