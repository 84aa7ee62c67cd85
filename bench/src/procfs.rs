//! What Linux knows about a running function process: CPU time and memory.

use std::time::Duration;

/// CPU time of a process in clock ticks (`sysconf(_SC_CLK_TCK)`, usually 100 per second),
/// all threads, exited ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ticks {
    /// utime, field 14 of `/proc/<pid>/stat`.
    pub user: u64,
    /// stime, field 15.
    pub system: u64,
}

impl Ticks {
    pub fn total(self) -> u64 {
        self.user + self.system
    }

    pub fn since(self, earlier: Ticks) -> Ticks {
        Ticks {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }
}

/// utime and stime of a process from `/proc/<pid>/stat`.
pub fn cpu_ticks(pid: u32) -> Result<Ticks, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    parse_cpu_ticks(&stat).ok_or_else(|| format!("cannot parse /proc/{pid}/stat: {stat}"))
}

fn parse_cpu_ticks(stat: &str) -> Option<Ticks> {
    // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3 (state): utime is field 14, stime field 15.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(Ticks {
        user: utime,
        system: stime,
    })
}

pub fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for unknown names.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as u64
    } else {
        100
    }
}

pub fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / ticks_per_second() as f64)
}

/// The same CPU time (user + system, all threads, exited ones included) at nanosecond
/// resolution, from the process's CPU-time clock (`clock_getcpuclockid` + `clock_gettime`).
pub fn cpu_time_precise(pid: u32) -> Result<Duration, String> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid out-pointer; the kernel checks the pid.
    let rc = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
    if rc != 0 {
        return Err(format!("clock_getcpuclockid({pid}) failed: {rc}"));
    }
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Err(format!(
            "clock_gettime(cpu clock of {pid}) failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Memory figures from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// VmHWM: the peak resident set size so far.
    pub peak_rss_kib: u64,
    /// VmRSS: the resident set size now.
    pub rss_kib: u64,
}

pub fn memory(pid: u32) -> Result<Memory, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    parse_memory(&status).ok_or_else(|| format!("no VmHWM/VmRSS in /proc/{pid}/status"))
}

fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        peak_rss_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_even_with_odd_command_names() {
        let stat = "4242 (we ird) name)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 37 5 0 0 20 0 3 0 \
                    123456 12345678 2345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(
            parse_cpu_ticks(stat),
            Some(Ticks {
                user: 37,
                system: 5
            })
        );
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn reads_peak_and_current_rss() {
        let status =
            "Name:\tbookings\nVmPeak:\t  600000 kB\nVmHWM:\t    9876 kB\nVmRSS:\t    9000 kB\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                peak_rss_kib: 9876,
                rss_kib: 9000
            })
        );
    }

    #[test]
    fn measures_this_process() {
        let pid = std::process::id();
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(30) {
            std::hint::black_box(0u64);
        }
        assert!(cpu_ticks(pid).is_ok());
        assert!(cpu_time_precise(pid).unwrap() >= Duration::from_millis(25));
        assert!(memory(pid).unwrap().peak_rss_kib > 0);
    }
}
