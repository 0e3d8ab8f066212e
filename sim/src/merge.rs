//! Welding links joined by fixed joints into their parents before the robot enters Rapier.
//!
//! Where the simulator's time goes: Rapier rebuilds the multibody mass matrix on every solver
//! substep, with one dense `Jᵀ M J` product per *link*, fixed links included. The A1 URDF has
//! 21 links for 12 moving joints (IMU, thigh shoulders, feet and hips are fixed links). Merging
//! each fixed child into its parent (colliders moved, mass properties summed) gives the same
//! rigid-body dynamics with 13 links, and cuts the mass-matrix work by about 40%.

use rapier3d::prelude::*;
use rapier3d_urdf::urdf_rs::{self, JointType};
use rapier3d_urdf::UrdfRobot;

/// Where a URDF link ended up: the index of the surviving link, and its pose in that link.
#[derive(Debug, Clone, Copy)]
pub struct LinkAlias {
    /// Index into the merged robot's links.
    pub link: usize,
    /// The original link's frame in the surviving link's frame.
    pub offset: Pose,
}

fn mass_properties(inertial: &urdf_rs::Inertial) -> MassProperties {
    let o = &inertial.origin.xyz;
    let i = &inertial.inertia;
    // Same construction as rapier3d-urdf (inertia frame rotation ignored, as it does).
    MassProperties::with_inertia_matrix(
        Vector::new(o[0] as Real, o[1] as Real, o[2] as Real),
        inertial.mass.value as Real,
        Matrix::from_cols_array(&[
            i.ixx as Real,
            i.ixy as Real,
            i.ixz as Real,
            i.ixy as Real,
            i.iyy as Real,
            i.iyz as Real,
            i.ixz as Real,
            i.iyz as Real,
            i.izz as Real,
        ]),
    )
}

/// Merges every fixed-joint child link into its parent. Returns, for each link of the input
/// robot, where it now lives.
pub fn merge_fixed_links(robot: &mut UrdfRobot, urdf: &urdf_rs::Robot) -> Vec<LinkAlias> {
    let n = robot.links.len();
    let mut mprops: Vec<MassProperties> = robot
        .links
        .iter()
        .map(|l| mass_properties(&urdf.links[l.urdf_link_index].inertial))
        .collect();
    // alias[i]: (surviving parent, pose of i in it); identity for links that survive.
    let mut alias: Vec<(usize, Pose)> = (0..n).map(|i| (i, Pose::IDENTITY)).collect();
    let mut merged = vec![false; n];
    let fixed: Vec<bool> = robot
        .joints
        .iter()
        .map(|j| urdf.joints[j.urdf_joint_index].joint_type == JointType::Fixed)
        .collect();

    for (k, _) in fixed.iter().enumerate().filter(|(_, f)| **f) {
        let p = robot.joints[k].link1;
        let c = robot.joints[k].link2;
        let rel = robot.links[p].body.position().inverse() * *robot.links[c].body.position();
        // Move the child's colliders and mass into the parent.
        let colliders = std::mem::take(&mut robot.links[c].colliders);
        for mut co in colliders {
            let pos = rel * *co.collider.position();
            co.collider.set_position(pos);
            robot.links[p].colliders.push(co);
        }
        let child_m = mprops[c].transform_by(&rel);
        mprops[p] += child_m;
        merged[c] = true;
        // Everything hanging from the child now hangs from the parent.
        for a in alias.iter_mut().filter(|a| a.0 == c) {
            *a = (p, rel * a.1);
        }
        for j in robot.joints.iter_mut() {
            if j.link1 == c {
                j.link1 = p;
                j.joint.local_frame1 = rel * j.joint.local_frame1;
            }
        }
    }

    // Compact: drop merged links, renumber.
    let mut new_index = vec![usize::MAX; n];
    let mut links = Vec::with_capacity(n);
    for (i, mut link) in std::mem::take(&mut robot.links).into_iter().enumerate() {
        if merged[i] {
            continue;
        }
        link.body.set_additional_mass_properties(mprops[i], false);
        new_index[i] = links.len();
        links.push(link);
    }
    robot.links = links;
    let joints = std::mem::take(&mut robot.joints);
    robot.joints = joints
        .into_iter()
        .enumerate()
        .filter(|(k, _)| !fixed[*k])
        .map(|(_, mut j)| {
            j.link1 = new_index[j.link1];
            j.link2 = new_index[j.link2];
            j
        })
        .collect();
    alias
        .into_iter()
        .map(|(link, offset)| LinkAlias {
            link: new_index[link],
            offset,
        })
        .collect()
}
