//! Every thread Reflex starts, placed on purpose: scheduler (SCHED_FIFO priority, or the normal
//! scheduler with a nice value) and CPU affinity per class of thread, applied once every thread
//! of a run exists, and read back from the OS for the run report.
//!
//! Threads are found by name in `/proc/self/task`, so threads that libraries start (RustDDS's
//! event loop and discovery) are placed too. Classes:
//!
//! - `rt` — `reflex-rt`: placed by itself from the `realtime:` section ([`crate::rt::apply`]);
//! - `policy` — `reflex-policy`: ONNX Runtime runs on it (one intra-op thread, no spinning);
//! - `ros_io` — `reflex-ros-io`: carries states to the RT thread and commands out;
//! - `dds` — RustDDS's event loops and discovery, and the ROS spinner: the wire itself;
//! - `teleop` — `reflex-teleop-*`: operator input.
//!
//! Defaults follow the core count: the RT thread alone on its core, everything else on the other
//! cores; below the RT thread, the wire (`ros_io`, `dds`: FIFO RT − 5) then the policy (FIFO
//! RT − 10); teleop on the normal scheduler. Placement applies on the real-time clock only
//! (lockstep runs as fast as it can; FIFO there would only starve the machine).

use serde::Serialize;

use crate::config::{RealtimeSection, ThreadSection, ThreadsSection};

/// The classes of thread, in report order.
pub const CLASSES: [&str; 5] = ["rt", "policy", "ros_io", "dds", "teleop"];

/// Which class a thread name (`/proc/.../comm`, at most 15 bytes) belongs to.
pub fn class_of(comm: &str) -> Option<&'static str> {
    match comm {
        "reflex-rt" => Some("rt"),
        "reflex-policy" => Some("policy"),
        "reflex-ros-io" => Some("ros_io"),
        c if c.starts_with("RustDDS") || c == "reflex-ros-spin" => Some("dds"),
        c if c.starts_with("reflex-teleop") => Some("teleop"),
        _ => None,
    }
}

/// Scheduler, priority and CPUs for one class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Placement {
    /// SCHED_FIFO priority 1–99; 0: the normal scheduler.
    pub priority: i32,
    /// Nice value on the normal scheduler (−20–19).
    pub nice: i32,
    /// CPUs the thread may run on; empty: all.
    pub cpus: Vec<usize>,
}

/// The placement of every class for this machine's `ncpu` CPUs: the config's, defaults where it
/// says nothing. `None` for `rt` (the `realtime:` section places it).
pub fn placements(
    rt: &RealtimeSection,
    threads: &ThreadsSection,
    ncpu: usize,
) -> Vec<(&'static str, Placement)> {
    let others: Vec<usize> = match rt.cpu {
        Some(c) if ncpu >= 2 => (0..ncpu).filter(|k| *k != c).collect(),
        _ => vec![],
    };
    let below = |by: i32| {
        if rt.priority > 0 {
            (rt.priority - by).max(1)
        } else {
            0
        }
    };
    let pick = |given: &Option<ThreadSection>, priority: i32, nice: i32| {
        let g = given.clone().unwrap_or_default();
        Placement {
            priority: g.priority.unwrap_or(priority),
            nice: g.nice.unwrap_or(nice),
            cpus: g.cpus.unwrap_or_else(|| others.clone()),
        }
    };
    vec![
        ("policy", pick(&threads.policy, below(10), 0)),
        ("ros_io", pick(&threads.ros_io, below(5), 0)),
        ("dds", pick(&threads.dds, below(5), 0)),
        ("teleop", pick(&threads.teleop, 0, 5)),
    ]
}

/// One thread as the OS runs it.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadReport {
    /// Its name (`comm`).
    pub name: String,
    /// Its class, if Reflex places it.
    pub class: Option<&'static str>,
    /// `fifo` or `normal` (as read back).
    pub scheduler: &'static str,
    /// SCHED_FIFO priority (0 on the normal scheduler).
    pub priority: i32,
    /// Nice value.
    pub nice: i32,
    /// CPUs it may run on.
    pub cpus: Vec<usize>,
    /// CPU time it used (user + system, s), when read at the end of the run.
    pub cpu_time_s: f64,
}

/// What placing the threads did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThreadsReport {
    /// Whether Reflex placed the threads (real-time clock and `threads.place`).
    pub placed: bool,
    /// Each thread of the process, as the OS runs it at the end of the run.
    pub threads: Vec<ThreadReport>,
    /// One line per setting the OS refused.
    pub refused: Vec<String>,
}

fn tasks() -> Vec<(i32, String)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return vec![];
    };
    let mut out: Vec<(i32, String)> = dir
        .flatten()
        .filter_map(|e| {
            let tid: i32 = e.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, comm.trim_end().to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Applies `p` to thread `tid`; one line per refusal.
fn apply(tid: i32, name: &str, p: &Placement, refused: &mut Vec<String>) {
    let os = || std::io::Error::last_os_error();
    if !p.cpus.is_empty() {
        // SAFETY: cpu_set_t is plain data; CPU_SET stays within it for indices < CPU_SETSIZE
        // (checked at load against this machine's CPUs).
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            for &c in &p.cpus {
                libc::CPU_SET(c, &mut set);
            }
            libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc != 0 {
            refused.push(format!("{name}: CPUs {:?} refused ({})", p.cpus, os()));
        }
    }
    let (policy, prio) = if p.priority > 0 {
        (libc::SCHED_FIFO, p.priority)
    } else {
        (libc::SCHED_OTHER, 0)
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: a valid sched_param for an existing thread of this process.
    if unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0 {
        refused.push(format!(
            "{name}: {} refused ({}); run as root or grant CAP_SYS_NICE / rtprio",
            if p.priority > 0 {
                format!("SCHED_FIFO priority {}", p.priority)
            } else {
                "the normal scheduler".into()
            },
            os()
        ));
    }
    if p.priority == 0 {
        // SAFETY: setpriority on a thread id of this process (Linux: per thread).
        if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, p.nice) } != 0 {
            refused.push(format!("{name}: nice {} refused ({})", p.nice, os()));
        }
    }
}

/// Places every thread of the process that belongs to a class (but `rt`). Returns the refusals.
pub fn place(placements: &[(&'static str, Placement)]) -> Vec<String> {
    let mut refused = Vec::new();
    for (tid, comm) in tasks() {
        let Some(class) = class_of(&comm) else {
            continue;
        };
        if let Some((_, p)) = placements.iter().find(|(c, _)| *c == class) {
            apply(tid, &comm, p, &mut refused);
        }
    }
    refused.sort();
    refused.dedup();
    refused
}

/// Every thread of the process as the OS runs it now, with the CPU time used so far.
pub fn read_back() -> Vec<ThreadReport> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    tasks()
        .into_iter()
        .map(|(tid, name)| {
            // SAFETY: plain queries on a thread id of this process; the structs are out-params.
            let (policy, prio, cpus, nice) = unsafe {
                let policy = libc::sched_getscheduler(tid);
                let mut param = libc::sched_param { sched_priority: 0 };
                libc::sched_getparam(tid, &mut param);
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
                let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
                    .filter(|c| libc::CPU_ISSET(*c, &set))
                    .collect();
                *libc::__errno_location() = 0;
                let nice = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
                (policy, param.sched_priority, cpus, nice)
            };
            // utime and stime: fields 14 and 15 of /proc/.../stat, after the `(comm)`.
            let cpu_time_s = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
                .ok()
                .and_then(|s| {
                    let rest = &s[s.rfind(')')? + 2..];
                    let f: Vec<&str> = rest.split(' ').collect();
                    Some(
                        (f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / ticks,
                    )
                })
                .unwrap_or(0.0);
            ThreadReport {
                class: class_of(&name),
                name,
                scheduler: if policy == libc::SCHED_FIFO {
                    "fifo"
                } else {
                    "normal"
                },
                priority: prio,
                nice,
                cpus,
                cpu_time_s,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_the_rt_core_alone_and_order_priorities() {
        let rt = RealtimeSection {
            priority: 80,
            cpu: Some(1),
            lock_memory: true,
            prefault_stack_kib: 0,
            spin_for_state_us: 0,
        };
        let p = placements(&rt, &ThreadsSection::default(), 4);
        let get = |c: &str| p.iter().find(|(k, _)| *k == c).unwrap().1.clone();
        assert_eq!(get("policy").cpus, vec![0, 2, 3]);
        assert_eq!(get("policy").priority, 70);
        assert_eq!(get("ros_io").priority, 75);
        assert_eq!(get("teleop").priority, 0);
        // No RT priority: everything on the normal scheduler.
        let rt0 = RealtimeSection {
            priority: 0,
            ..rt.clone()
        };
        assert!(placements(&rt0, &ThreadsSection::default(), 2)
            .iter()
            .all(|(_, p)| p.priority == 0));
        // One CPU: nowhere else to go.
        assert!(placements(&rt, &ThreadsSection::default(), 1)
            .iter()
            .all(|(_, p)| p.cpus.is_empty()));
    }

    #[test]
    fn this_process_s_threads_are_read_back() {
        let h = std::thread::Builder::new()
            .name("reflex-policy".into())
            .spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)))
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let refused = place(&[(
            "policy",
            Placement {
                priority: 0,
                nice: 7,
                cpus: vec![0],
            },
        )]);
        let t = read_back();
        let p = t.iter().find(|t| t.name == "reflex-policy").unwrap();
        assert_eq!(p.class, Some("policy"));
        if refused.is_empty() {
            assert_eq!(
                (p.scheduler, p.nice, p.cpus.clone()),
                ("normal", 7, vec![0])
            );
        }
        h.join().unwrap();
    }
}
