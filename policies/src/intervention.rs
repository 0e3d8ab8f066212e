//! Human intervention in the SERL / HIL-SERL convention: a human's end-effector twist (a
//! SpaceMouse, a servo-style delta twist) and buttons, mapped into the policy's normalised 7-D
//! action (xyz, rpy, gripper in [-1, 1]); while the human acts — the mapped twist's norm above a
//! threshold (SERL: 1e-3), a gripper or intervene button held — and for a hold time after the
//! last input (SERL: 0.5 s), the human's action replaces the policy's on the axes the human
//! controls. During the hold the human's current reading is executed (zero once the device is
//! released: the arm stays where the human left it, as in SERL). The executed action is what
//! the policy's `last_action` and the recording see, flagged as an intervention.
//!
//! Gripper buttons follow HIL-SERL's SpaceMouse wrapper: close → −1, open → +1, neither → 0.
//! Axes the human does not control keep the policy's action (shared control).

/// Action axes of the 7-D end-effector action.
pub const EE_AXES: [&str; 7] = ["x", "y", "z", "roll", "pitch", "yaw", "gripper"];

/// How a human's input maps into the policy's action.
#[derive(Debug, Clone, PartialEq)]
pub struct InterventionConfig {
    /// Action per unit of the twist's linear components (clipped to [-1, 1]).
    pub linear_scale: f64,
    /// Action per unit of the twist's angular components (clipped to [-1, 1]).
    pub angular_scale: f64,
    /// The human acts when the mapped 6-D action's Euclidean norm exceeds this.
    pub threshold: f64,
    /// The override holds this long after the last input (ns).
    pub hold_ns: u64,
    /// A twist or button state older than this is no input at all (ns): a device that went
    /// silent is released.
    pub timeout_ns: u64,
    /// Which of the 7 axes the human controls.
    pub axes: [bool; 7],
    /// Joy button that closes the gripper (action −1).
    pub close_button: Option<usize>,
    /// Joy button that opens the gripper (action +1).
    pub open_button: Option<usize>,
    /// Joy button that takes over with the current (possibly zero) twist.
    pub intervene_button: Option<usize>,
}

/// The newest human input, as the teleop node validated it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HumanInput {
    /// Linear (x, y, z) then angular (x, y, z) twist components.
    pub twist: [f64; 6],
    /// Arrival of the twist (ns, CLOCK_MONOTONIC); `None`: none yet.
    pub twist_at_ns: Option<u64>,
    /// Which Joy buttons are held, by index → held.
    pub buttons: u64,
    /// Arrival of the button state; `None`: none yet.
    pub buttons_at_ns: Option<u64>,
}

/// The human's action for a tick, and the axes it replaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HumanAction {
    /// The mapped action (policy order, normalised).
    pub action: [f32; 7],
    /// Axes the human controls (the others keep the policy's action).
    pub axes: [bool; 7],
}

/// Decides, tick by tick, whether the human is in control.
#[derive(Debug, Clone)]
pub struct Intervention {
    cfg: InterventionConfig,
    last_active_ns: Option<u64>,
}

impl Intervention {
    /// Nobody has intervened yet.
    pub fn new(cfg: InterventionConfig) -> Self {
        Self {
            cfg,
            last_active_ns: None,
        }
    }

    /// The human's action at `now_ns` when the human is in control (acting, or within the hold
    /// time of the last input), else `None`: the policy acts. Allocation-free.
    pub fn decide(&mut self, input: &HumanInput, now_ns: u64) -> Option<HumanAction> {
        let c = &self.cfg;
        let fresh = |at: Option<u64>| at.is_some_and(|t| now_ns.saturating_sub(t) <= c.timeout_ns);
        let mut action = [0.0f32; 7];
        if fresh(input.twist_at_ns) {
            for (i, (a, v)) in action.iter_mut().zip(input.twist).enumerate() {
                let scale = if i < 3 {
                    c.linear_scale
                } else {
                    c.angular_scale
                };
                *a = (v * scale).clamp(-1.0, 1.0) as f32;
            }
        }
        let held = |b: Option<usize>| {
            fresh(input.buttons_at_ns) && b.is_some_and(|b| b < 64 && input.buttons & (1 << b) != 0)
        };
        let (close, open) = (held(c.close_button), held(c.open_button));
        action[6] = if close {
            -1.0
        } else if open {
            1.0
        } else {
            0.0
        };
        let norm = action[..6]
            .iter()
            .zip(&c.axes)
            .filter(|(_, on)| **on)
            .map(|(a, _)| (*a as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let gripper = c.axes[6] && (close || open);
        if norm > c.threshold || gripper || held(c.intervene_button) {
            self.last_active_ns = Some(now_ns);
        }
        let in_control = self
            .last_active_ns
            .is_some_and(|t| now_ns.saturating_sub(t) <= c.hold_ns);
        in_control.then_some(HumanAction {
            action,
            axes: c.axes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn cfg() -> InterventionConfig {
        InterventionConfig {
            linear_scale: 2.0,
            angular_scale: 1.0,
            threshold: 1e-3,
            hold_ns: 500 * MS,
            timeout_ns: 200 * MS,
            axes: [true; 7],
            close_button: Some(0),
            open_button: Some(1),
            intervene_button: Some(2),
        }
    }

    fn twist(x: f64, yaw: f64, at_ms: u64) -> HumanInput {
        HumanInput {
            twist: [x, 0.0, 0.0, 0.0, 0.0, yaw],
            twist_at_ns: Some(at_ms * MS),
            ..Default::default()
        }
    }

    #[test]
    fn the_human_takes_over_above_the_threshold_and_holds_for_the_hold_time() {
        let mut iv = Intervention::new(cfg());
        assert_eq!(iv.decide(&HumanInput::default(), 0), None, "no input yet");
        assert_eq!(
            iv.decide(&twist(0.0001, 0.0, 0), 0),
            None,
            "below the threshold"
        );
        let a = iv.decide(&twist(0.3, -2.0, 100), 100 * MS).unwrap();
        assert_eq!(
            a.action,
            [0.6, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0],
            "scaled, clipped"
        );
        // Released (a zero twist): the human keeps control, executing zero, for the hold.
        let zero = twist(0.0, 0.0, 200);
        assert_eq!(iv.decide(&zero, 200 * MS).unwrap().action, [0.0; 7]);
        assert!(iv.decide(&zero, 600 * MS).is_some(), "within 0.5 s");
        assert_eq!(iv.decide(&zero, 601 * MS), None, "the policy again");
    }

    #[test]
    fn a_silent_device_is_released_and_buttons_and_masks_count() {
        let mut iv = Intervention::new(InterventionConfig {
            axes: [false, false, true, false, false, false, true],
            ..cfg()
        });
        // An x-only twist: x is not the human's axis, so no take-over.
        assert_eq!(iv.decide(&twist(0.5, 0.0, 0), 0), None);
        let z = HumanInput {
            twist: [0.0, 0.0, -0.1, 0.0, 0.0, 0.0],
            twist_at_ns: Some(0),
            ..Default::default()
        };
        let a = iv.decide(&z, 0).unwrap();
        assert_eq!(a.axes, [false, false, true, false, false, false, true]);
        assert_eq!(a.action[2], -0.2);
        // The twist is stale after 200 ms: it reads as zero.
        assert_eq!(iv.decide(&z, 300 * MS).unwrap().action[2], 0.0);
        let close = HumanInput {
            buttons: 1,
            buttons_at_ns: Some(2_000 * MS),
            ..Default::default()
        };
        let a = iv.decide(&close, 2_000 * MS).unwrap();
        assert_eq!(a.action[6], -1.0, "close");
        let open = HumanInput {
            buttons: 2,
            ..close
        };
        assert_eq!(iv.decide(&open, 2_000 * MS).unwrap().action[6], 1.0);
        let intervene = HumanInput {
            buttons: 4,
            buttons_at_ns: Some(5_000 * MS),
            ..Default::default()
        };
        assert_eq!(
            iv.decide(&intervene, 5_000 * MS).unwrap().action,
            [0.0; 7],
            "intervene: the human holds the arm still"
        );
        assert_eq!(
            iv.decide(&intervene, 5_600 * MS),
            None,
            "a stale held button is no input"
        );
    }
}
