//! Arm kinematics from a URDF chain and the Cartesian impedance law that executes end-effector
//! targets at the RT rate (HIL-SERL style: the reference error is clipped, which is what makes
//! stiff gains safe in contact).
//!
//! Everything is sized when the chain is built; [`Chain::forward`] and
//! [`CartesianImpedance::command`] allocate nothing.

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};

use reflex_hardware::{JointCommand, RobotSpec, RobotState};

/// Why a chain could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// The URDF did not parse.
    #[error("URDF: {0}")]
    Urdf(String),
    /// No joint path from `base` to `tip`.
    #[error("URDF: no chain from link `{base}` to link `{tip}`")]
    NoChain {
        /// Base link.
        base: String,
        /// Tip link.
        tip: String,
    },
    /// A moving joint of the chain is not one of the robot's joints.
    #[error("URDF joint `{0}` of the chain is not a joint of the robot")]
    UnknownJoint(String),
    /// Only revolute and fixed joints are supported in arm chains.
    #[error(
        "URDF joint `{0}`: only revolute, continuous and fixed joints are supported in the chain"
    )]
    UnsupportedJoint(String),
}

#[derive(Debug, Clone)]
struct ChainJoint {
    origin: Isometry3<f64>,
    axis: Option<(Vector3<f64>, usize)>,
}

/// A serial chain from the robot's base link to its tool point.
#[derive(Debug, Clone)]
pub struct Chain {
    joints: Vec<ChainJoint>,
    tcp: Isometry3<f64>,
    /// Per moving joint: (hardware index), in chain order.
    hw: Vec<usize>,
    /// Scratch: joint axis and origin in the base frame, per moving joint.
    axes: Vec<(Vector3<f64>, Point3<f64>)>,
}

fn pose(p: &urdf_rs::Pose) -> Isometry3<f64> {
    Isometry3::from_parts(
        Translation3::new(p.xyz[0], p.xyz[1], p.xyz[2]),
        UnitQuaternion::from_euler_angles(p.rpy[0], p.rpy[1], p.rpy[2]),
    )
}

impl Chain {
    /// Builds the chain `base → tip` of `urdf`, with the tool point at `tcp_m` in the tip frame.
    pub fn from_urdf(
        urdf: &str,
        base: &str,
        tip: &str,
        tcp_m: [f64; 3],
        spec: &RobotSpec,
    ) -> Result<Chain, ChainError> {
        let robot = urdf_rs::read_from_string(urdf).map_err(|e| ChainError::Urdf(e.to_string()))?;
        let mut path = Vec::new();
        let mut link = tip.to_string();
        while link != base {
            let j = robot
                .joints
                .iter()
                .find(|j| j.child.link == link)
                .ok_or_else(|| ChainError::NoChain {
                    base: base.into(),
                    tip: tip.into(),
                })?;
            path.push(j);
            link = j.parent.link.clone();
        }
        path.reverse();
        let mut joints = Vec::new();
        let mut hw = Vec::new();
        for j in path {
            let axis = match j.joint_type {
                urdf_rs::JointType::Fixed => None,
                urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => {
                    let h = spec
                        .joint_index(&j.name)
                        .ok_or_else(|| ChainError::UnknownJoint(j.name.clone()))?;
                    hw.push(h);
                    let a = Vector3::new(j.axis.xyz[0], j.axis.xyz[1], j.axis.xyz[2]).normalize();
                    Some((a, h))
                }
                _ => return Err(ChainError::UnsupportedJoint(j.name.clone())),
            };
            joints.push(ChainJoint {
                origin: pose(&j.origin),
                axis,
            });
        }
        let n = hw.len();
        Ok(Chain {
            joints,
            tcp: Isometry3::translation(tcp_m[0], tcp_m[1], tcp_m[2]),
            hw,
            axes: vec![(Vector3::zeros(), Point3::origin()); n],
        })
    }

    /// Moving joints in the chain.
    pub fn dof(&self) -> usize {
        self.hw.len()
    }

    /// Tool-point pose for hardware-order joint positions `q_rad`; also caches each joint's axis
    /// and origin in the base frame for [`Self::jacobian_times`] and [`Self::jacobian_transpose_times`].
    pub fn forward(&mut self, q_rad: &[f64]) -> Isometry3<f64> {
        let mut t = Isometry3::identity();
        let mut k = 0;
        for j in &self.joints {
            t *= j.origin;
            if let Some((axis, h)) = j.axis {
                self.axes[k] = (t.rotation * axis, Point3::from(t.translation.vector));
                t *=
                    UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_unchecked(axis), q_rad[h]);
                k += 1;
            }
        }
        t * self.tcp
    }

    /// Tool-point twist [v; ω] = J(q) dq for the pose computed by the last [`Self::forward`].
    pub fn jacobian_times(
        &self,
        tcp: &Point3<f64>,
        dq_rad_s: &[f64],
    ) -> (Vector3<f64>, Vector3<f64>) {
        let (mut v, mut w) = (Vector3::zeros(), Vector3::zeros());
        for (k, (z, p)) in self.axes.iter().enumerate() {
            let qd = dq_rad_s[self.hw[k]];
            v += z.cross(&(tcp - p)) * qd;
            w += z * qd;
        }
        (v, w)
    }

    /// Joint torques τ = Jᵀ [f; m] (hardware order, added into `tau_nm`).
    pub fn jacobian_transpose_times(
        &self,
        tcp: &Point3<f64>,
        f: &Vector3<f64>,
        m: &Vector3<f64>,
        tau_nm: &mut [f64],
    ) {
        for (k, (z, p)) in self.axes.iter().enumerate() {
            tau_nm[self.hw[k]] += z.cross(&(tcp - p)).dot(f) + z.dot(m);
        }
    }
}

/// An end-effector target in the base frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EeTarget {
    /// Position (m).
    pub position_m: [f64; 3],
    /// Orientation `[x, y, z, w]`.
    pub orientation_xyzw: [f64; 4],
    /// Gripper command in [-1, 1] (recorded; the simulated Panda has no actuated gripper).
    pub gripper: f64,
}

/// Gains of the Cartesian impedance law.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImpedanceGains {
    /// N/m.
    pub translational_stiffness: f64,
    /// N·m/rad.
    pub rotational_stiffness: f64,
    /// N·s/m.
    pub translational_damping: f64,
    /// N·m·s/rad.
    pub rotational_damping: f64,
    /// Reference position error clip (m).
    pub max_position_error_m: f64,
    /// Reference orientation error clip (rad).
    pub max_rotation_error_rad: f64,
    /// Joint-space damping (N·m·s/rad), applied by the driver's kd.
    pub joint_damping: f64,
}

/// The impedance controller: F = K·clip(x* − x) − D·ẋ, τ = Jᵀ F, sent as feed-forward torque.
#[derive(Debug, Clone)]
pub struct CartesianImpedance {
    chain: Chain,
    gains: ImpedanceGains,
}

fn clip_norm(v: Vector3<f64>, max: f64) -> Vector3<f64> {
    let n = v.norm();
    if n > max && n > 0.0 {
        v * (max / n)
    } else {
        v
    }
}

impl CartesianImpedance {
    /// A controller over `chain` with `gains`.
    pub fn new(chain: Chain, gains: ImpedanceGains) -> Self {
        Self { chain, gains }
    }

    /// The chain (e.g. for forward kinematics on the policy thread).
    pub fn chain_mut(&mut self) -> &mut Chain {
        &mut self.chain
    }

    /// Writes the command that pulls the tool point towards `target`. Allocation-free.
    pub fn command(&mut self, target: &EeTarget, state: &RobotState, cmd: &mut JointCommand) {
        let q = &state.joints.position_rad;
        let dq = &state.joints.velocity_rad_s;
        let x = self.chain.forward(q);
        let p = Point3::from(x.translation.vector);
        let (v, w) = self.chain.jacobian_times(&p, dq);
        let t = target.position_m;
        let e_p = clip_norm(
            Vector3::new(t[0], t[1], t[2]) - p.coords,
            self.gains.max_position_error_m,
        );
        let [qx, qy, qz, qw] = target.orientation_xyzw;
        let r_target = UnitQuaternion::from_quaternion(nalgebra::Quaternion::new(qw, qx, qy, qz));
        let e_r = clip_norm(
            (r_target * x.rotation.inverse()).scaled_axis(),
            self.gains.max_rotation_error_rad,
        );
        let g = &self.gains;
        let f = e_p * g.translational_stiffness - v * g.translational_damping;
        let m = e_r * g.rotational_stiffness - w * g.rotational_damping;
        cmd.effort_ff_nm.fill(0.0);
        self.chain
            .jacobian_transpose_times(&p, &f, &m, &mut cmd.effort_ff_nm);
        cmd.position_rad.copy_from_slice(q);
        cmd.velocity_rad_s.fill(0.0);
        cmd.kp.fill(0.0);
        cmd.kd.fill(g.joint_damping);
    }
}

/// Clips `p` into the box `[min, max]`.
pub fn clip_to_box(p: [f64; 3], min: [f64; 3], max: [f64; 3]) -> [f64; 3] {
    [
        p[0].clamp(min[0], max[0]),
        p[1].clamp(min[1], max[1]),
        p[2].clamp(min[2], max[2]),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::{JointLimits, RobotKind};

    const URDF: &str = r#"<robot name="two"><link name="base"/><link name="l1"/><link name="l2"/>
      <joint name="j1" type="revolute"><parent link="base"/><child link="l1"/><origin xyz="0 0 0" rpy="0 0 0"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="10" velocity="1"/></joint>
      <joint name="j2" type="revolute"><parent link="l1"/><child link="l2"/><origin xyz="1 0 0" rpy="0 0 0"/><axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="10" velocity="1"/></joint>
    </robot>"#;

    fn spec() -> RobotSpec {
        RobotSpec {
            model: "two".into(),
            kind: RobotKind::Arm,
            joint_names: vec!["j2".into(), "j1".into()],
            limits: vec![
                JointLimits {
                    lower_rad: -3.0,
                    upper_rad: 3.0,
                    velocity_rad_s: 1.0,
                    effort_nm: 10.0
                };
                2
            ],
        }
    }

    #[test]
    fn planar_two_link_forward_kinematics_and_jacobian() {
        let mut c = Chain::from_urdf(URDF, "base", "l2", [1.0, 0.0, 0.0], &spec()).unwrap();
        // Hardware order is (j2, j1).
        let q = [std::f64::consts::FRAC_PI_2, 0.0];
        let x = c.forward(&q);
        assert!((x.translation.vector - Vector3::new(1.0, 1.0, 0.0)).norm() < 1e-12);
        // Only j1 moving at 1 rad/s: tool point at (1, 1) moves with ω × r = (−1, 1).
        let (v, w) = c.jacobian_times(&Point3::new(1.0, 1.0, 0.0), &[0.0, 1.0]);
        assert!((v - Vector3::new(-1.0, 1.0, 0.0)).norm() < 1e-12 && (w.z - 1.0).abs() < 1e-12);
        // Jᵀ of a unit force along −x: τ = (z × r)·f; r = (1, 1, 0) for j1, (0, 1, 0) for j2.
        let mut tau = [0.0; 2];
        c.jacobian_transpose_times(
            &Point3::new(1.0, 1.0, 0.0),
            &Vector3::new(-1.0, 0.0, 0.0),
            &Vector3::zeros(),
            &mut tau,
        );
        assert!(
            (tau[1] - 1.0).abs() < 1e-12 && (tau[0] - 1.0).abs() < 1e-12,
            "{tau:?}"
        );
    }

    #[test]
    fn reference_error_is_clipped() {
        let chain = Chain::from_urdf(URDF, "base", "l2", [1.0, 0.0, 0.0], &spec()).unwrap();
        let gains = ImpedanceGains {
            translational_stiffness: 1000.0,
            rotational_stiffness: 0.0,
            translational_damping: 0.0,
            rotational_damping: 0.0,
            max_position_error_m: 0.005,
            max_rotation_error_rad: 0.1,
            joint_damping: 0.0,
        };
        let mut imp = CartesianImpedance::new(chain, gains);
        let state = RobotState::new(&spec());
        let mut cmd = JointCommand::new(&spec());
        // Tool point at (2, 0); target 1 m away along +y: force is capped at 1000 × 0.005 = 5 N.
        let target = EeTarget {
            position_m: [2.0, 1.0, 0.0],
            orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
            gripper: 0.0,
        };
        imp.command(&target, &state, &mut cmd);
        // j1 lever arm 2 m, j2 lever arm 1 m, force 5 N along +y.
        assert!(
            (cmd.effort_ff_nm[1] - 10.0).abs() < 1e-9,
            "{:?}",
            cmd.effort_ff_nm
        );
        assert!((cmd.effort_ff_nm[0] - 5.0).abs() < 1e-9);
    }
}
