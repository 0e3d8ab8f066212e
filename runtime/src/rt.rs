//! Operating-system real-time facilities: SCHED_FIFO, CPU pinning, memory locking, a
//! pre-faulted stack, a monotonic clock and sleeping until an absolute deadline.
//!
//! Each setting is best effort: [`apply`] returns one line per refusal so the caller can say so
//! once and go on (a laptop without privileges still runs, with worse latency).

use crate::config::RealtimeSection;

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; both clocks used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds on CLOCK_MONOTONIC. vDSO-backed: no syscall, no allocation.
#[inline]
pub fn now_ns() -> u64 {
    reflex_hardware::monotonic_ns()
}

/// Sleeps until CLOCK_MONOTONIC reaches `deadline_ns` (clock_nanosleep with TIMER_ABSTIME):
/// absolute deadlines do not drift with the work done in a cycle. Retries on EINTR.
pub fn sleep_until_ns(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: valid timespec; a null remainder is allowed with TIMER_ABSTIME.
        let rc = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if rc != libc::EINTR {
            break;
        }
    }
}

/// Busy-waits until CLOCK_MONOTONIC reaches `deadline_ns` (no syscall, no allocation).
pub fn spin_until_ns(deadline_ns: u64) {
    while now_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}

/// What [`apply`] achieved.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RtStatus {
    /// SCHED_FIFO priority in force (None: normal scheduler).
    pub fifo_priority: Option<i32>,
    /// CPU the thread is pinned to.
    pub pinned_cpu: Option<usize>,
    /// Whether all memory is locked.
    pub memory_locked: bool,
    /// Stack pre-faulted (KiB).
    pub prefaulted_stack_kib: usize,
    /// One line per setting the OS refused.
    pub refused: Vec<String>,
}

/// Applies the real-time settings to the calling thread. Call on the RT thread before the loop.
pub fn apply(cfg: &RealtimeSection) -> RtStatus {
    let mut st = RtStatus::default();
    if cfg.lock_memory {
        // SAFETY: plain syscall with constant flags.
        let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
        if rc == 0 {
            st.memory_locked = true;
        } else {
            st.refused.push(format!(
                "mlockall refused ({}): memory may page out; run as root or raise RLIMIT_MEMLOCK",
                std::io::Error::last_os_error()
            ));
        }
    }
    if let Some(cpu) = cfg.cpu {
        // SAFETY: cpu_set_t is plain data; CPU_SET writes within it for cpu < CPU_SETSIZE.
        let rc = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        if rc == 0 {
            st.pinned_cpu = Some(cpu);
        } else {
            st.refused.push(format!(
                "pinning to CPU {cpu} refused ({})",
                std::io::Error::last_os_error()
            ));
        }
    }
    if cfg.priority > 0 {
        let param = libc::sched_param {
            sched_priority: cfg.priority,
        };
        // SAFETY: valid sched_param for the calling thread (pid 0).
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if rc == 0 {
            st.fifo_priority = Some(cfg.priority);
        } else {
            st.refused.push(format!(
                "SCHED_FIFO priority {} refused ({}): running on the normal scheduler; run as root or grant CAP_SYS_NICE / rtprio",
                cfg.priority,
                std::io::Error::last_os_error()
            ));
        }
    }
    if cfg.prefault_stack_kib > 0 {
        prefault_stack(cfg.prefault_stack_kib);
        st.prefaulted_stack_kib = cfg.prefault_stack_kib;
    }
    st
}

/// Touches `kib` KiB of stack so later cycles do not page-fault on it.
#[inline(never)]
fn prefault_stack(kib: usize) {
    const CHUNK: usize = 64 * 1024;
    fn touch(remaining: usize) {
        let mut buf = [0u8; CHUNK];
        // Keep the write from being optimised away.
        std::hint::black_box(&mut buf);
        if remaining > CHUNK {
            touch(remaining - CHUNK);
        }
    }
    touch(kib * 1024);
}

/// CPU time the calling thread has used (ns, CLOCK_THREAD_CPUTIME_ID). A syscall on most
/// kernels: used only by the lockstep scheduler, never on the real-time clock.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}
