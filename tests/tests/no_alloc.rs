//! The RT path allocates nothing: a counting global allocator watches the RT thread through
//! whole runs of the run driver — scheduler, fault schedule, operator inputs, policy hand-off,
//! supervisor, certified fallback, target tracking, diagnostics status, outcome tracking —
//! through every supervisor mode, on the lockstep and the real-time clock.
//!
//! Only allocations made on the RT thread while the counter is armed are counted: an observer
//! arms it before the first cycle and disarms it around each world step (the simulator's
//! physics stands in for the robot and is not part of the RT path) and after the last cycle.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use reflex_runtime::driver::{CycleView, Observer};
use reflex_tests::{edit, load_text, run_observed, shipped_text_abs};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ARMED.with(|a| a.get()) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Arms the counter on the RT thread for everything but the world steps.
struct Probe {
    last_cycle: u64,
    cycles: u64,
}

impl Observer for Probe {
    fn started(&mut self) {
        ARMED.with(|a| a.set(true));
    }
    fn world_step(&mut self, starting: bool) {
        ARMED.with(|a| a.set(!starting));
    }
    fn on_cycle(&mut self, v: &CycleView) {
        self.cycles += 1;
        if v.cycle == self.last_cycle {
            ARMED.with(|a| a.set(false));
        }
    }
}

/// Runs `text` for `duration_s` and returns (RT-path allocations, transitions).
fn rt_allocations(tag: &str, text: &str, duration_s: f64) -> (u64, usize) {
    let cfg = load_text(tag, text);
    let cycles = (duration_s * cfg.config.rates.control_hz).round() as u64;
    let mut probe = Probe {
        last_cycle: cycles - 1,
        cycles: 0,
    };
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let rep = run_observed(&cfg, duration_s, &mut probe);
    let n = ALLOCATIONS.load(Ordering::Relaxed) - before;
    assert_eq!(probe.cycles, cycles);
    assert_eq!(rep.cycles, cycles);
    (n, rep.supervisor.transitions.len())
}

#[test]
fn the_rt_path_allocates_nothing_in_any_mode() {
    // The counter works: an allocation on an armed thread is seen.
    ARMED.with(|a| a.set(true));
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    std::hint::black_box(vec![1u8; 16]);
    ARMED.with(|a| a.set(false));
    assert!(
        ALLOCATIONS.load(Ordering::Relaxed) > before,
        "counting allocator saw no allocation"
    );

    // A1 under its ONNX policy with the certified fallback: non-finite action → FALLBACK, reset,
    // sensor dropout → FALLBACK, reset, e-stop → SAFE_STOP, reset, policy freeze → FALLBACK,
    // reset, drill → FALLBACK, reset; with a stall, a push, a noise burst and weak motors.
    let faults = "faults:
  - {kind: non_finite_action, at_s: 2.5}
  - {kind: reset, at_s: 2.8}
  - {kind: sensor_dropout, at_s: 3.0, duration_s: 0.05}
  - {kind: reset, at_s: 3.3}
  - {kind: estop, at_s: 3.5}
  - {kind: reset, at_s: 3.8}
  - {kind: policy_freeze, at_s: 4.0, duration_s: 0.3}
  - {kind: reset, at_s: 4.6}
  - {kind: fallback_drill, at_s: 4.9}
  - {kind: reset, at_s: 5.2}
  - {kind: latency_spike, at_s: 5.4, duration_ms: 3}
  - {kind: push, at_s: 5.5, duration_s: 0.1, force_n: [20, 0, 0]}
  - {kind: sensor_noise_burst, at_s: 5.7, duration_s: 0.1, joint_position_rad: 0.01}
  - {kind: motor_weakness, at_s: 5.9, duration_s: 0.1, strength: 0.8}
";
    let a1_policy = format!("{}{faults}", shipped_text_abs("a1_policy.yaml"));
    let (allocs, transitions) = rt_allocations("no_alloc_a1_policy", &a1_policy, 6.2);
    assert_eq!(
        allocs, 0,
        "A1 RT path allocated (lockstep, policy, certified fallback)"
    );
    assert_eq!(transitions, 10, "the faults did not all fire");

    // The built-in fallback (joint PD hold) on the A1 without a policy, e-stop and reset.
    let stand = format!(
        "{}\nfaults:\n  - {{kind: sensor_dropout, at_s: 2.0, duration_s: 0.05}}\n  - {{kind: estop, at_s: 2.2}}\n  - {{kind: reset, at_s: 2.4}}\n",
        shipped_text_abs("a1_stand.yaml")
    );
    let (allocs, transitions) = rt_allocations("no_alloc_a1_stand", &stand, 2.6);
    assert_eq!(allocs, 0, "A1 RT path with the built-in fallback allocated");
    assert_eq!(transitions, 3);

    // The Panda under its manipulation policy (Cartesian impedance), then on the real-time clock.
    let (allocs, _) = rt_allocations("no_alloc_panda", &shipped_text_abs("panda_reach.yaml"), 1.5);
    assert_eq!(allocs, 0, "Panda RT path (impedance) allocated");
    let realtime = edit(
        &shipped_text_abs("panda_hold.yaml"),
        "clock: lockstep",
        "clock: realtime",
    );
    let (allocs, _) = rt_allocations("no_alloc_panda_rt", &realtime, 0.5);
    assert_eq!(allocs, 0, "Panda RT path on the real-time clock allocated");
}
