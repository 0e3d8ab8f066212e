//! The rules each section of a run config follows: ranges, joint sets, combinations that make
//! no sense, each finding naming its field (`config::parse` runs them all and reports them at
//! once).

use reflex_hardware::catalogue::RobotModel;
use reflex_hardware::{RobotKind, RobotSpec};
use reflex_validate::{Checker, JointSet, Range};

use super::sections::*;

/// True when `x` is within 1e-6 (relative) of a whole number ≥ 1.
pub(crate) fn is_whole(x: f64) -> bool {
    x >= 1.0 - 1e-9 && (x - x.round()).abs() <= 1e-6 * x.max(1.0)
}

pub(super) fn check_rates(c: &mut Checker, r: &Rates) {
    let control_ok = c.range(
        "rates.control_hz",
        r.control_hz,
        "a rate",
        Range::open_closed(0.0, 10_000.0),
        "Hz",
    );
    if !control_ok {
        return;
    }
    if !c.require(
        Range::open_closed(0.0, r.control_hz).contains(r.policy_hz),
        "rates.policy_hz",
        format!("a rate in (0, control_hz = {}] Hz", r.control_hz),
        r.policy_hz,
    ) {
        return;
    }
    if !is_whole(r.control_hz / r.policy_hz) {
        c.error(
            "rates.policy_hz",
            format!(
                "a rate that divides control_hz = {} Hz into whole cycles",
                r.control_hz
            ),
            format!("{} (ratio {:.4})", r.policy_hz, r.control_hz / r.policy_hz),
        );
    }
}

pub(super) fn check_sim(c: &mut Checker, sim: &SimSection, control_hz: f64) {
    if c.range(
        "sim.physics_dt_s",
        sim.physics_dt_s,
        "a step",
        Range::open_closed(0.0, 0.01),
        "s",
    ) && control_hz > 0.0
    {
        let per_cycle = 1.0 / (control_hz * sim.physics_dt_s);
        if !is_whole(per_cycle) {
            c.error(
                "sim.physics_dt_s",
                format!("a step that divides the control period 1/{control_hz} s into whole steps"),
                format!("{} ({per_cycle:.4} steps per cycle)", sim.physics_dt_s),
            );
        } else if per_cycle > 100.0 {
            c.error(
                "sim.physics_dt_s",
                "at most 100 physics steps per control cycle",
                format!("{} ({per_cycle:.0} steps per cycle)", sim.physics_dt_s),
            );
        }
    }
    let r = [
        (
            "sim.initial_pose_jitter_rad",
            sim.initial_pose_jitter_rad,
            "a perturbation",
            0.5,
            "rad",
        ),
        (
            "sim.joint_damping_nm_s_rad",
            sim.joint_damping_nm_s_rad,
            "a damping",
            100.0,
            "N·m·s/rad",
        ),
        (
            "sim.ground_friction",
            sim.ground_friction,
            "a friction coefficient",
            5.0,
            "",
        ),
        (
            "sim.noise.joint_position_rad",
            sim.noise.joint_position_rad,
            "a standard deviation",
            0.5,
            "rad",
        ),
        (
            "sim.noise.joint_velocity_rad_s",
            sim.noise.joint_velocity_rad_s,
            "a standard deviation",
            10.0,
            "rad/s",
        ),
        (
            "sim.noise.gyro_rad_s",
            sim.noise.gyro_rad_s,
            "a standard deviation",
            10.0,
            "rad/s",
        ),
        (
            "sim.noise.accelerometer_m_s2",
            sim.noise.accelerometer_m_s2,
            "a standard deviation",
            50.0,
            "m/s²",
        ),
    ];
    for (field, v, what, hi, unit) in r {
        c.range(field, v, what, Range::closed(0.0, hi), unit);
    }
    for (field, v, lo, hi, what) in [
        ("sim.mass_scale", sim.mass_scale, 0.5, 2.0, "a scale"),
        ("sim.payload_kg", sim.payload_kg, 0.0, 50.0, "a mass"),
        (
            "sim.motor_strength",
            sim.motor_strength,
            0.5,
            1.5,
            "a scale",
        ),
        ("sim.gain_scale", sim.gain_scale, 0.5, 1.5, "a scale"),
        (
            "sim.rough_terrain_m",
            sim.rough_terrain_m,
            0.0,
            0.2,
            "a step height (m)",
        ),
    ] {
        c.range(field, v, what, Range::closed(lo, hi), "");
    }
    c.whole(
        "sim.imu_latency_cycles",
        sim.imu_latency_cycles as u64,
        0..=50,
        "cycles",
    );
    c.whole(
        "sim.action_delay_cycles",
        sim.action_delay_cycles as u64,
        0..=100,
        "cycles",
    );
    c.whole(
        "sim.solver_iterations",
        sim.solver_iterations as u64,
        1..=100,
        "iterations",
    );
    c.whole(
        "sim.pgs_iterations",
        sim.pgs_iterations as u64,
        1..=100,
        "iterations",
    );
}

pub(super) fn check_threads(c: &mut Checker, t: &ThreadsSection, rt: &RealtimeSection) {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    for (name, sec) in [
        ("policy", &t.policy),
        ("ros_io", &t.ros_io),
        ("dds", &t.dds),
        ("teleop", &t.teleop),
    ] {
        let Some(s) = sec else { continue };
        let field = |k: &str| format!("threads.{name}.{k}");
        if let Some(p) = s.priority {
            if !(0..=99).contains(&p) {
                c.error(
                    field("priority"),
                    "a SCHED_FIFO priority 1–99, or 0 for the normal scheduler",
                    p,
                );
            }
            if p >= rt.priority && rt.priority > 0 {
                c.warn(
                    field("priority"),
                    format!("a priority below the RT thread's ({})", rt.priority),
                    p,
                );
            }
        }
        if let Some(nice) = s.nice {
            if !(-20..=19).contains(&nice) {
                c.error(field("nice"), "a nice value −20–19", nice);
            }
            if s.priority.is_some_and(|p| p > 0) {
                c.error(
                    field("nice"),
                    "no nice value with a FIFO priority (nice applies to the normal scheduler)",
                    nice,
                );
            }
        }
        if let Some(cpus) = &s.cpus {
            if cpus.is_empty() || cpus.len() > n || cpus.iter().any(|k| *k >= n) {
                c.error(
                    field("cpus"),
                    format!("1–{n} CPU indices below {n} (this machine's CPUs)"),
                    format!("{cpus:?}"),
                );
            } else if rt.cpu.is_some_and(|r| cpus.contains(&r)) && n > 1 {
                c.warn(
                    field("cpus"),
                    format!(
                        "CPUs without the RT thread's ({}): sharing its core delays it",
                        rt.cpu.unwrap_or(0)
                    ),
                    format!("{cpus:?}"),
                );
            }
        }
        if let Some(us) = s.spin_us {
            if name != "ros_io" {
                c.error(
                    field("spin_us"),
                    "spin_us on `ros_io` only (the thread that waits for the RT thread's answer)",
                    us,
                );
            } else {
                c.whole(&field("spin_us"), us, 0..=10_000, "µs");
            }
        }
    }
}

pub(super) fn check_realtime(c: &mut Checker, rt: &RealtimeSection) {
    c.whole(
        "realtime.spin_for_state_us",
        rt.spin_for_state_us,
        0..=10_000,
        "µs",
    );
    if !(0..=99).contains(&rt.priority) {
        c.error(
            "realtime.priority",
            "a SCHED_FIFO priority 1–99, or 0 for the normal scheduler",
            rt.priority,
        );
    }
    if let Some(cpu) = rt.cpu {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if cpu >= n {
            c.error(
                "realtime.cpu",
                format!("a CPU index below {n} (this machine's CPUs)"),
                cpu,
            );
        }
    }
    c.whole(
        "realtime.prefault_stack_kib",
        rt.prefault_stack_kib as u64,
        0..=8192,
        "KiB",
    );
}

pub(super) fn check_controller(
    c: &mut Checker,
    ctl: &ControllerSection,
    robot: &RobotModel,
    spec: &RobotSpec,
) {
    match (ctl.kind, ctl.duration_s) {
        (ControllerKind::StandUp, _) if robot.kind != RobotKind::Legged => c.error(
            "controller.kind",
            format!(
                "a controller for an arm (joint_pd_hold): `stand_up` needs a legged robot, `{}` is an arm",
                robot.name
            ),
            "`stand_up`",
        ),
        (ControllerKind::StandUp, None) => c.error(
            "controller.duration_s",
            "a duration > 0 s (required by stand_up)",
            "nothing",
        ),
        (ControllerKind::StandUp, Some(d)) => {
            c.require(
                Range::open_closed(0.0, 60.0).contains(d),
                "controller.duration_s",
                "a duration > 0 s, at most 60 s",
                d,
            );
        }
        (ControllerKind::JointPdHold, Some(d)) => c.error(
            "controller.duration_s",
            "no duration: joint_pd_hold holds its pose from the start",
            d,
        ),
        _ => {}
    }
    let described = format!("a joint of `{}`", robot.name);
    let joints = JointSet {
        names: &spec.joint_names,
        described_as: &described,
    };
    c.joint_map(
        "controller.pose_rad",
        &ctl.pose_rad,
        joints,
        "a finite angle",
        Range::finite(),
        "rad",
    );
    c.within_joint_limits("controller.pose_rad", &ctl.pose_rad, spec);
    c.per_joint(
        "controller.kp",
        &ctl.kp,
        joints,
        "a finite gain",
        Range::at_least(0.0),
        "N·m/rad",
    );
    c.per_joint(
        "controller.kd",
        &ctl.kd,
        joints,
        "a finite gain",
        Range::at_least(0.0),
        "N·m·s/rad",
    );
}

pub(super) fn check_safety(c: &mut Checker, s: &SafetySection) {
    c.whole(
        "safety.max_late_periods",
        s.max_late_periods,
        0..=1000,
        "policy periods",
    );
    let timeout_ok = c.range(
        "safety.sensor_timeout_ms",
        s.sensor_timeout_ms,
        "a timeout",
        Range::open_closed(0.0, 10_000.0),
        "ms",
    );
    let lost_from = if timeout_ok { s.sensor_timeout_ms } else { 0.0 };
    let lost_ok = c.require(
        Range::closed(lost_from, 10_000.0).contains(s.sensor_lost_ms),
        "safety.sensor_lost_ms",
        format!(
            "a time in [sensor_timeout_ms = {}, 10000] ms",
            s.sensor_timeout_ms
        ),
        s.sensor_lost_ms,
    );
    c.range(
        "safety.joint_limit_margin_rad",
        s.joint_limit_margin_rad,
        "a margin",
        Range::closed(0.0, 1.0),
        "rad",
    );
    c.range(
        "safety.target_limit_margin_rad",
        s.target_limit_margin_rad,
        "a margin",
        Range::closed(0.0, 3.0),
        "rad",
    );
    c.range(
        "safety.torque_saturation_ms",
        s.torque_saturation_ms,
        "a time",
        Range::open_closed(0.0, 10_000.0),
        "ms",
    );
    c.range(
        "safety.max_tilt_rad",
        s.max_tilt_rad,
        "an angle",
        Range::open_closed(0.0, 3.2),
        "rad",
    );
    c.require(
        Range::closed(s.max_tilt_rad, 3.2).contains(s.safe_stop_tilt_rad),
        "safety.safe_stop_tilt_rad",
        "an angle in [max_tilt_rad, 3.2] rad",
        s.safe_stop_tilt_rad,
    );
    c.range(
        "safety.max_target_step_rad",
        s.max_target_step_rad,
        "a step",
        Range::open_closed(0.0, 1.0),
        "rad",
    );
    if !(1..=100).contains(&s.persist_samples) {
        c.error("safety.persist_samples", "1–100 samples", s.persist_samples);
    }
    if let Some(r) = &s.recover_from_stale {
        // Against the sensor thresholds once they are valid themselves (else only finite).
        let (lo, hi) = if timeout_ok && lost_ok {
            (s.sensor_timeout_ms, s.sensor_lost_ms)
        } else {
            (0.0, 10_000.0)
        };
        c.require(
            Range::closed(lo, hi).contains(r.max_stale_ms),
            "safety.recover_from_stale.max_stale_ms",
            format!(
                "a gap in [sensor_timeout_ms = {}, sensor_lost_ms = {}] ms (longer gaps end in a safe stop)",
                s.sensor_timeout_ms, s.sensor_lost_ms
            ),
            r.max_stale_ms,
        );
        c.range(
            "safety.recover_from_stale.healthy_ms",
            r.healthy_ms,
            "a time",
            Range::closed(0.0, 60_000.0),
            "ms",
        );
    }
    c.range(
        "safety.safe_stop_kd",
        s.safe_stop_kd,
        "a damping",
        Range::closed(0.0, 100.0),
        "",
    );
}

pub(crate) fn check_policy(c: &mut Checker, p: &PolicySection) {
    if let Some(cmd) = p.command {
        c.each(
            "policy.command",
            &cmd,
            "a finite velocity",
            Range::finite(),
            "(m/s, m/s, rad/s)",
        );
    }
    c.whole(
        "policy.command_schedule",
        p.command_schedule.len() as u64,
        0..=10_000,
        "steps",
    );
    for (i, step) in p.command_schedule.iter().enumerate() {
        c.range(
            &format!("policy.command_schedule[{i}].at_s"),
            step.at_s,
            "a time",
            Range::closed(0.0, 86_400.0),
            "s",
        );
        c.each(
            &format!("policy.command_schedule[{i}].command"),
            &step.command,
            "a finite velocity",
            Range::finite(),
            "(m/s, m/s, rad/s)",
        );
    }
    c.whole(
        "policy.onnxruntime.warmup_runs",
        p.onnxruntime.warmup_runs as u64,
        0..=1000,
        "warm-up inferences",
    );
    c.range(
        "policy.onnxruntime.load_timeout_s",
        p.onnxruntime.load_timeout_s,
        "a time limit",
        Range::open_closed(0.0, 3600.0),
        "s",
    );
    if p.onnxruntime.providers.is_empty() {
        c.error(
            "policy.onnxruntime.providers",
            "at least one provider (cpu is always available)",
            "[]",
        );
    }
}

fn check_topic(c: &mut Checker, field: &str, topic: &str) {
    c.require(
        !topic.is_empty()
            && topic
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '/'),
        field,
        "a ROS topic name (letters, digits, `_`, `/`)",
        format!("`{topic}`"),
    );
}

fn check_rate(c: &mut Checker, field: &str, hz: f64) {
    c.range(field, hz, "a rate", Range::open_closed(0.0, 10_000.0), "Hz");
}

fn check_ms(c: &mut Checker, field: &str, ms: f64, what: &str, range: Range) {
    c.range(field, ms, what, range, "ms");
}

fn check_button(c: &mut Checker, field: &str, b: Option<u32>, has_joy: bool) {
    if let Some(b) = b {
        c.whole(field, b as u64, 0..=63, "(a Joy button index)");
        c.require(
            has_joy,
            field,
            "a `teleop.joy` section: buttons come from a sensor_msgs/Joy topic",
            "no teleop.joy",
        );
    }
}

pub(super) fn check_teleop(c: &mut Checker, t: &TeleopSection, has_policy: bool) {
    super::ros::check_domain(c, "teleop.domain_id", t.domain_id);
    let timeout = Range::open_closed(0.0, 60_000.0);
    check_ms(c, "teleop.max_age_ms", t.max_age_ms, "an age", timeout);
    let has_joy = t.joy.is_some();
    if let Some(tw) = &t.twist {
        check_ms(
            c,
            "teleop.twist.timeout_ms",
            tw.timeout_ms,
            "a timeout",
            timeout,
        );
        check_ms(
            c,
            "teleop.twist.decay_ms",
            tw.decay_ms,
            "a decay",
            Range::closed(0.0, 60_000.0),
        );
        check_rate(c, "teleop.twist.max_rate_hz", tw.max_rate_hz);
        check_topic(c, "teleop.twist.topic", &tw.topic);
        c.require(
            has_policy,
            "teleop.twist",
            "a `policy:` section: the velocity command goes to a locomotion policy",
            "no policy",
        );
        if tw.require_enable_button {
            check_button(
                c,
                "teleop.twist.enable_button",
                Some(tw.enable_button),
                has_joy,
            );
        }
    }
    if let Some(j) = &t.joy {
        check_topic(c, "teleop.joy.topic", &j.topic);
        check_rate(c, "teleop.joy.max_rate_hz", j.max_rate_hz);
        check_ms(
            c,
            "teleop.joy.timeout_ms",
            j.timeout_ms,
            "a timeout",
            timeout,
        );
    }
    if let Some(e) = &t.ee_twist {
        check_topic(c, "teleop.ee_twist.topic", &e.topic);
        check_rate(c, "teleop.ee_twist.max_rate_hz", e.max_rate_hz);
        for (f, v) in [
            ("linear_scale", e.linear_scale),
            ("angular_scale", e.angular_scale),
        ] {
            c.range(
                &format!("teleop.ee_twist.{f}"),
                v,
                "a scale",
                Range::closed(0.0, 1_000.0),
                "(action per twist unit)",
            );
        }
        c.range(
            "teleop.ee_twist.threshold",
            e.threshold,
            "a threshold",
            Range::closed(0.0, 1.0),
            "(norm of the normalised action)",
        );
        check_ms(
            c,
            "teleop.ee_twist.hold_ms",
            e.hold_ms,
            "a hold time",
            Range::closed(0.0, 60_000.0),
        );
        check_ms(
            c,
            "teleop.ee_twist.timeout_ms",
            e.timeout_ms,
            "a timeout",
            timeout,
        );
        let axes = reflex_policies::intervention::EE_AXES;
        for (i, a) in e.axes.iter().enumerate() {
            c.require(
                axes.contains(&a.as_str()),
                &format!("teleop.ee_twist.axes[{i}]"),
                "one of x, y, z, roll, pitch, yaw, gripper",
                format!("`{a}`"),
            );
        }
        c.require(
            !e.axes.is_empty(),
            "teleop.ee_twist.axes",
            "at least one axis",
            "[]",
        );
        check_button(
            c,
            "teleop.ee_twist.gripper_close_button",
            e.gripper_close_button,
            has_joy,
        );
        check_button(
            c,
            "teleop.ee_twist.gripper_open_button",
            e.gripper_open_button,
            has_joy,
        );
        check_button(
            c,
            "teleop.ee_twist.intervene_button",
            e.intervene_button,
            has_joy,
        );
        c.require(
            has_policy,
            "teleop.ee_twist",
            "a `policy:` section: the human's action replaces a manipulation policy's",
            "no policy",
        );
    }
    if let Some(e) = &t.estop {
        check_topic(c, "teleop.estop.topic", &e.topic);
        check_topic(c, "teleop.estop.reset_topic", &e.reset_topic);
        check_rate(c, "teleop.estop.max_rate_hz", e.max_rate_hz);
        if let Some(h) = e.heartbeat_timeout_ms {
            check_ms(
                c,
                "teleop.estop.heartbeat_timeout_ms",
                h,
                "a timeout",
                timeout,
            );
        }
    }
}
