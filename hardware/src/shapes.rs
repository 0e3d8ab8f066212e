//! The robot's collision primitives posed in the world from a base pose and joint positions, by
//! forward kinematics over the URDF's tree: what a viewer draws (the scenario report's 3-D
//! replay). Not on any RT path: it allocates freely.

use crate::catalogue::{CatalogueError, RobotModel};

/// A pose: position and orientation (quaternion `[x, y, z, w]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    /// Position (m).
    pub position_m: [f64; 3],
    /// Orientation, unit quaternion `[x, y, z, w]`.
    pub orientation_xyzw: [f64; 4],
}

impl Pose {
    /// No translation, no rotation.
    pub const IDENTITY: Pose = Pose {
        position_m: [0.0; 3],
        orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
    };

    /// `self ∘ other`: `other` expressed in `self`'s frame, brought to `self`'s parent.
    pub fn then(&self, other: &Pose) -> Pose {
        let p = rotate(self.orientation_xyzw, other.position_m);
        Pose {
            position_m: [
                self.position_m[0] + p[0],
                self.position_m[1] + p[1],
                self.position_m[2] + p[2],
            ],
            orientation_xyzw: qmul(self.orientation_xyzw, other.orientation_xyzw),
        }
    }
}

fn qmul(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    let [ax, ay, az, aw] = a;
    let [bx, by, bz, bw] = b;
    [
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
        aw * bw - ax * bx - ay * by - az * bz,
    ]
}

fn rotate(q: [f64; 4], v: [f64; 3]) -> [f64; 3] {
    let r = qmul(
        qmul(q, [v[0], v[1], v[2], 0.0]),
        [-q[0], -q[1], -q[2], q[3]],
    );
    [r[0], r[1], r[2]]
}

fn axis_angle(axis: [f64; 3], angle_rad: f64) -> [f64; 4] {
    let n = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2])
        .sqrt()
        .max(1e-12);
    let s = (angle_rad / 2.0).sin() / n;
    [
        axis[0] * s,
        axis[1] * s,
        axis[2] * s,
        (angle_rad / 2.0).cos(),
    ]
}

/// URDF `rpy` (fixed-axis roll, pitch, yaw: R = Rz · Ry · Rx) as a quaternion.
fn rpy(r: [f64; 3]) -> [f64; 4] {
    let qx = axis_angle([1.0, 0.0, 0.0], r[0]);
    let qy = axis_angle([0.0, 1.0, 0.0], r[1]);
    let qz = axis_angle([0.0, 0.0, 1.0], r[2]);
    qmul(qz, qmul(qy, qx))
}

fn urdf_pose(p: &urdf_rs::Pose) -> Pose {
    Pose {
        position_m: [p.xyz[0], p.xyz[1], p.xyz[2]],
        orientation_xyzw: rpy([p.rpy[0], p.rpy[1], p.rpy[2]]),
    }
}

/// A collision primitive, in its own frame (a cylinder's axis is its z, as in URDF).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Primitive {
    /// A box of these full extents (m).
    Box {
        /// Full extents along x, y, z (m).
        size_m: [f64; 3],
    },
    /// A cylinder along z.
    Cylinder {
        /// Radius (m).
        radius_m: f64,
        /// Length (m).
        length_m: f64,
    },
    /// A sphere.
    Sphere {
        /// Radius (m).
        radius_m: f64,
    },
}

struct TreeJoint {
    parent: usize,
    child: usize,
    origin: Pose,
    /// Axis and hardware index of a moving joint.
    moving: Option<([f64; 3], usize)>,
}

/// A robot's links and collision primitives, ready to be posed.
pub struct ShapeTree {
    /// Joints in an order where each parent link is posed before its child.
    joints: Vec<TreeJoint>,
    links: usize,
    shapes: Vec<(usize, Primitive, Pose)>,
}

impl ShapeTree {
    /// The tree of `model`'s URDF from its base link.
    pub fn of(model: &RobotModel) -> Result<ShapeTree, CatalogueError> {
        let urdf = urdf_rs::read_from_string(model.urdf).map_err(|e| CatalogueError::Urdf {
            model: model.name,
            reason: e.to_string(),
        })?;
        let mut names: Vec<&str> = vec![model.base_link];
        let mut joints = Vec::new();
        // Breadth first from the base: a joint is placed once its parent link is.
        let mut placed = vec![false; urdf.joints.len()];
        let mut progress = true;
        while progress {
            progress = false;
            for (i, j) in urdf.joints.iter().enumerate() {
                if placed[i] {
                    continue;
                }
                let Some(parent) = names.iter().position(|n| *n == j.parent.link) else {
                    continue;
                };
                placed[i] = true;
                progress = true;
                names.push(&j.child.link);
                let moving = match j.joint_type {
                    urdf_rs::JointType::Revolute | urdf_rs::JointType::Continuous => model
                        .joints
                        .iter()
                        .position(|n| *n == j.name)
                        .map(|h| ([j.axis.xyz[0], j.axis.xyz[1], j.axis.xyz[2]], h)),
                    _ => None,
                };
                joints.push(TreeJoint {
                    parent,
                    child: names.len() - 1,
                    origin: urdf_pose(&j.origin),
                    moving,
                });
            }
        }
        let mut shapes = Vec::new();
        for l in &urdf.links {
            let Some(at) = names.iter().position(|n| *n == l.name) else {
                continue;
            };
            for c in &l.collision {
                let p = match &c.geometry {
                    urdf_rs::Geometry::Box { size } => Primitive::Box {
                        size_m: [size[0], size[1], size[2]],
                    },
                    urdf_rs::Geometry::Cylinder { radius, length } => Primitive::Cylinder {
                        radius_m: *radius,
                        length_m: *length,
                    },
                    urdf_rs::Geometry::Sphere { radius } => Primitive::Sphere { radius_m: *radius },
                    _ => continue,
                };
                shapes.push((at, p, urdf_pose(&c.origin)));
            }
        }
        Ok(ShapeTree {
            joints,
            links: names.len(),
            shapes,
        })
    }

    /// The primitives, in the order [`Self::pose`] poses them.
    pub fn primitives(&self) -> Vec<Primitive> {
        self.shapes.iter().map(|s| s.1).collect()
    }

    /// Every primitive's world pose for the base at `base` and joint positions `q_rad` in
    /// hardware order (joints beyond `q_rad` at zero).
    pub fn pose(&self, base: &Pose, q_rad: &[f64]) -> Vec<Pose> {
        let mut link = vec![Pose::IDENTITY; self.links];
        link[0] = *base;
        for j in &self.joints {
            let mut t = link[j.parent].then(&j.origin);
            if let Some((axis, h)) = j.moving {
                let q = q_rad.get(h).copied().unwrap_or(0.0);
                t = t.then(&Pose {
                    position_m: [0.0; 3],
                    orientation_xyzw: axis_angle(axis, q),
                });
            }
            link[j.child] = t;
        }
        self.shapes
            .iter()
            .map(|(l, _, origin)| link[*l].then(origin))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    #[test]
    fn a_standing_leg_puts_its_foot_below_the_hip_and_bending_the_knee_moves_it() {
        let go2 = catalogue::model("go2").unwrap();
        let tree = ShapeTree::of(go2).unwrap();
        let prims = tree.primitives();
        assert!(prims.len() >= 15, "{prims:?}");
        let base = Pose {
            position_m: [1.0, 2.0, 0.3],
            orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
        };
        let feet = |poses: &[Pose]| -> Vec<[f64; 3]> {
            prims
                .iter()
                .zip(poses)
                .filter(|(p, _)| matches!(p, Primitive::Sphere { .. }))
                .map(|(_, p)| p.position_m)
                .collect()
        };
        // All joints at zero: legs straight down, feet about thigh + calf (0.426 m) below.
        let straight = feet(&tree.pose(&base, &[0.0; 12]));
        assert_eq!(straight.len(), 4);
        for f in &straight {
            assert!((f[2] - (0.3 - 0.426)).abs() < 0.03, "{f:?}");
            assert!(
                (f[0] - 1.0).abs() < 0.25 && (f[1] - 2.0).abs() < 0.2,
                "{f:?}"
            );
        }
        // The stand pose (thigh 0.8, calf −1.5): feet higher, still under the body.
        let stand = [0.0, 0.8, -1.5].repeat(4);
        for f in feet(&tree.pose(&base, &stand)) {
            assert!(f[2] > 0.3 - 0.35 && f[2] < 0.3 - 0.2, "{f:?}");
        }
        // A base yawed by 90°: the feet turn with it about the base.
        let yawed = Pose {
            orientation_xyzw: axis_angle([0.0, 0.0, 1.0], std::f64::consts::FRAC_PI_2),
            ..base
        };
        for (a, b) in straight.iter().zip(feet(&tree.pose(&yawed, &[0.0; 12]))) {
            assert!((b[0] - (1.0 - (a[1] - 2.0))).abs() < 1e-9, "{a:?} {b:?}");
            assert!((b[1] - (2.0 + (a[0] - 1.0))).abs() < 1e-9, "{a:?} {b:?}");
        }
    }
}
