//! The simulated world: one robot (a Rapier multibody) on flat ground.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rapier3d::prelude::*;
use rapier3d_urdf::{UrdfLoaderOptions, UrdfMultibodyOptions, UrdfRobot};
use reflex_hardware::catalogue::RobotModel;
use reflex_hardware::{GroundTruth, HwError, JointCommand, Robot, RobotSpec, RobotState};

use crate::merge::merge_fixed_links;
use crate::{PhysicsProfile, SensorNoise, SimConfig, SimError, SimModel};

const GRAVITY_M_S2: f64 = 9.81;

/// One actuated joint: where it lives in the multibody and which bodies it connects.
#[derive(Debug, Clone, Copy)]
struct ActuatedJoint {
    /// Link index inside the multibody.
    link_id: usize,
    /// Index of the joint's degree of freedom in the generalized coordinates.
    dof: usize,
    /// Body on the child side of the joint.
    child: RigidBodyHandle,
    /// Body on the parent side of the joint.
    parent: RigidBodyHandle,
    /// Joint axis in the child body's frame.
    axis_in_child: Vector,
}

/// A simulated robot implementing [`Robot`]. See the crate docs for the actuator model.
pub struct SimRobot {
    spec: RobotSpec,
    robot: &'static RobotModel,
    world: PhysicsWorld,
    multibody: MultibodyIndex,
    joints: Vec<ActuatedJoint>,
    /// Bodies of the multibody's links with their link ids (for gravity compensation).
    links: Vec<(usize, RigidBodyHandle)>,
    imu_body: RigidBodyHandle,
    /// Rotation of the IMU frame in its (merged) body's frame.
    imu_rotation: Rotation,
    base_body: RigidBodyHandle,
    /// End-effector body and the tool point's pose in that body's frame.
    ee: Option<(RigidBodyHandle, Pose)>,
    physics_dt_s: f64,
    time_s: f64,
    steps: u64,
    active: bool,
    /// Latched driver command (what the motor drivers execute each physics step).
    command: JointCommand,
    /// Torque applied per joint on the last step (N·m): the driver's estimate.
    applied_nm: Vec<f64>,
    /// Generalized gravity compensation per joint (N·m), recomputed each step when enabled.
    gravity_comp_nm: Vec<f64>,
    base_push: Vector,
    imu_prev_linvel: Vector,
    imu_accel_world: [f64; 3],
    noise: SensorNoise,
    /// Stage times since [`SimRobot::enable_profile`]; `None`: not profiling.
    profile: Option<PhysicsProfile>,
    rng: ChaCha8Rng,
    /// A world effect: fraction of the commanded torque the motors deliver (1 = healthy).
    motor_strength: f64,
    /// The motors' own strength (randomised; 1 = rated): torque and limit scale with it.
    rated_strength: f64,
    /// kp and kd the drivers apply, × the commanded ones.
    gain_scale: f64,
    /// Encoder offsets (rad).
    joint_offset_rad: Vec<f64>,
    /// The base's own mass properties (randomised, without payload), and its payload (kg).
    base_mprops: Option<MassProperties>,
    payload_kg: f64,
}

fn urdf_error(robot: &RobotModel, e: impl std::fmt::Display) -> SimError {
    SimError::Urdf {
        model: robot.name,
        reason: e.to_string(),
    }
}

fn check_len(robot: &RobotModel, field: &'static str, v: &[f64]) -> Result<(), SimError> {
    if v.len() != robot.joints.len() {
        return Err(SimError::WrongLength {
            model: robot.name,
            field,
            expected: robot.joints.len(),
            got: v.len(),
        });
    }
    Ok(())
}

impl SimRobot {
    /// Builds the world: parses the model's URDF, inserts it as a multibody, sets the initial
    /// pose, armature and damping. All allocation of the simulator happens here.
    pub fn new(cfg: &SimConfig) -> Result<Self, SimError> {
        let robot = cfg.model;
        let physics = SimModel::of(robot)?;
        if !(cfg.physics_dt_s > 0.0 && cfg.physics_dt_s <= 0.01) {
            return Err(SimError::OutOfRange {
                field: "physics_dt_s",
                value: cfg.physics_dt_s,
                expected: "0 < dt ≤ 0.01 s",
            });
        }
        let initial = cfg
            .initial_pose_rad
            .clone()
            .unwrap_or_else(|| physics.initial_pose_rad.to_vec());
        check_len(robot, "initial_pose_rad", &initial)?;
        let armature = cfg
            .armature_kg_m2
            .clone()
            .unwrap_or_else(|| physics.armature_kg_m2.to_vec());
        check_len(robot, "armature_kg_m2", &armature)?;

        let options = UrdfLoaderOptions {
            make_roots_fixed: robot.fixed_base,
            shift: Pose::from_translation(Vector::new(
                0.0,
                0.0,
                cfg.initial_base_height_m
                    .unwrap_or(physics.initial_base_height_m) as Real,
            )),
            rigid_body_blueprint: RigidBodyBuilder::dynamic().can_sleep(false),
            collider_blueprint: ColliderBuilder::default()
                .density(0.0)
                .friction(cfg.ground_friction as Real),
            ..UrdfLoaderOptions::default()
        };
        let (mut urdf_robot, urdf) =
            UrdfRobot::from_str(robot.urdf, options, std::path::Path::new("."))
                .map_err(|e| urdf_error(robot, e))?;

        // Map URDF names to what the loader built (it may squeeze empty links away), then weld
        // fixed links into their parents (see `merge`).
        let link_names: Vec<String> = urdf_robot
            .links
            .iter()
            .map(|l| urdf.links[l.urdf_link_index].name.clone())
            .collect();
        let aliases = merge_fixed_links(&mut urdf_robot, &urdf);
        let joint_names: Vec<String> = urdf_robot
            .joints
            .iter()
            .map(|j| urdf.joints[j.urdf_joint_index].name.clone())
            .collect();
        let spec = robot.spec()?;

        let mut world = PhysicsWorld::new();
        world.gravity = Vector::new(0.0, 0.0, -GRAVITY_M_S2 as Real);
        world.integration_parameters.dt = cfg.physics_dt_s as Real;
        world.integration_parameters.num_solver_iterations = cfg.solver_iterations.max(1);
        world.integration_parameters.num_internal_pgs_iterations = cfg.pgs_iterations.max(1);
        if !robot.fixed_base {
            let ground = ColliderBuilder::cuboid(50.0, 50.0, 0.5)
                .translation(Vector::new(0.0, 0.0, -0.5))
                .friction(cfg.ground_friction as Real)
                .build();
            world.colliders.insert(ground);
            if cfg.rough_terrain_m > 0.0 {
                // Its own generator: the terrain does not shift the sensor noise's draws.
                let mut trng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7E44_A1B0);
                let tile = 0.4;
                for ix in 0..19 {
                    for iy in 0..8 {
                        let h = trng.random_range(0.0..=cfg.rough_terrain_m).max(1e-4);
                        let x = 0.6 + tile * (ix as f64 + 0.5);
                        let y = -1.6 + tile * (iy as f64 + 0.5);
                        let t = ColliderBuilder::cuboid(
                            (tile / 2.0) as Real,
                            (tile / 2.0) as Real,
                            (h / 2.0) as Real,
                        )
                        .translation(Vector::new(x as Real, y as Real, (h / 2.0) as Real))
                        .friction(cfg.ground_friction as Real)
                        .build();
                        world.colliders.insert(t);
                    }
                }
            }
        }

        let handles = urdf_robot.insert_using_multibody_joints(
            &mut world.bodies,
            &mut world.colliders,
            &mut world.multibody_joints,
            UrdfMultibodyOptions::DISABLE_SELF_CONTACTS,
        );
        let body_of_link = |name: &str| -> Result<(RigidBodyHandle, Pose), SimError> {
            link_names
                .iter()
                .position(|n| n == name)
                .map(|i| (handles.links[aliases[i].link].body, aliases[i].offset))
                .ok_or_else(|| SimError::MissingElement {
                    model: robot.name,
                    what: "link",
                    name: name.to_string(),
                })
        };
        let (imu_body, imu_offset) = body_of_link(robot.imu_link)?;
        let (base_body, _) = body_of_link(robot.base_link)?;
        let ee = match robot.end_effector {
            Some(e) => {
                let (body, offset) = body_of_link(e.link)?;
                let tcp = e.tcp_m;
                let tcp = Vector::new(tcp[0] as Real, tcp[1] as Real, tcp[2] as Real);
                Some((body, offset * Pose::from_translation(tcp)))
            }
            None => None,
        };
        let multibody = world
            .multibody_joints
            .rigid_body_link(base_body)
            .map(|l| l.multibody)
            .ok_or_else(|| urdf_error(robot, "base link is not part of a multibody"))?;

        // Settle the root joint type (free or fixed) first: it renumbers the dofs.
        if let Some(mb) = world.multibody_joints.get_multibody_mut(multibody) {
            mb.forward_kinematics(&world.bodies, true);
        }
        let mut joints = Vec::with_capacity(robot.joints.len());
        {
            let mb = world
                .multibody_joints
                .get_multibody(multibody)
                .ok_or_else(|| urdf_error(robot, "multibody missing after insertion"))?;
            for name in robot.joints {
                let k = joint_names.iter().position(|n| n == name).ok_or_else(|| {
                    SimError::MissingElement {
                        model: robot.name,
                        what: "joint",
                        name: name.to_string(),
                    }
                })?;
                let jh = &handles.joints[k];
                let link_id = world
                    .multibody_joints
                    .rigid_body_link(jh.link2)
                    .map(|l| l.id)
                    .ok_or_else(|| urdf_error(robot, format!("joint {name} not in multibody")))?;
                let link = mb
                    .link(link_id)
                    .ok_or_else(|| urdf_error(robot, format!("link of {name} missing")))?;
                let frame2 = link.joint().data.local_frame2;
                joints.push(ActuatedJoint {
                    link_id,
                    dof: link.assembly_id(),
                    child: jh.link2,
                    parent: jh.link1,
                    axis_in_child: frame2.rotation * Vector::X,
                });
            }
        }
        let links: Vec<(usize, RigidBodyHandle)> = handles
            .links
            .iter()
            .filter_map(|l| {
                world
                    .multibody_joints
                    .rigid_body_link(l.body)
                    .map(|id| (id.id, l.body))
            })
            .collect();

        // Initial pose: joints start at zero after insertion; displace them to the target.
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        {
            let mb = world
                .multibody_joints
                .get_multibody_mut(multibody)
                .ok_or_else(|| urdf_error(robot, "multibody missing after insertion"))?;
            let mut disp: Vec<Real> = vec![0.0; mb.ndofs()];
            for (i, j) in joints.iter().enumerate() {
                let jitter = if cfg.initial_pose_jitter_rad > 0.0 {
                    rng.random_range(-cfg.initial_pose_jitter_rad..=cfg.initial_pose_jitter_rad)
                } else {
                    0.0
                };
                disp[j.dof] = spec.limits[i].clamp_position(initial[i] + jitter) as Real;
                mb.armature_mut()[j.dof] = armature[i] as Real;
                mb.damping_mut()[j.dof] = cfg.joint_damping_nm_s_rad as Real;
            }
            mb.apply_displacements(&disp);
            mb.forward_kinematics(&world.bodies, false);
            mb.update_rigid_bodies(&mut world.bodies, false);
        }

        let base_mprops = world.bodies.get(base_body).and_then(|rb| {
            match rb.mass_properties().additional_local_mprops.as_deref() {
                Some(RigidBodyAdditionalMassProps::MassProps(m)) => {
                    Some(MassProperties::with_principal_inertia_frame(
                        m.local_com,
                        m.mass() * cfg.mass_scale as Real,
                        m.principal_inertia() * cfg.mass_scale as Real,
                        m.principal_inertia_local_frame,
                    ))
                }
                _ => None,
            }
        });
        // Domain randomisation of the body: masses and inertias scaled, a payload on the base.
        if cfg.mass_scale != 1.0 || cfg.payload_kg != 0.0 {
            let k = cfg.mass_scale as Real;
            for &(_, body) in &links {
                let Some(rb) = world.bodies.get_mut(body) else {
                    continue;
                };
                // The URDF's inertials are the bodies' additional mass properties (colliders
                // have no density); the computed local ones are only refreshed at the next step.
                let m = match rb.mass_properties().additional_local_mprops.as_deref() {
                    Some(RigidBodyAdditionalMassProps::MassProps(m)) => *m,
                    _ => continue,
                };
                let mut scaled = MassProperties::with_principal_inertia_frame(
                    m.local_com,
                    m.mass() * k,
                    m.principal_inertia() * k,
                    m.principal_inertia_local_frame,
                );
                if body == base_body && cfg.payload_kg > 0.0 {
                    scaled +=
                        MassProperties::new(m.local_com, cfg.payload_kg as Real, AngVector::ZERO);
                }
                rb.set_additional_mass_properties(scaled, false);
            }
        }
        let joint_offset_rad = if cfg.joint_offset_rad.is_empty() {
            vec![0.0; spec.num_joints()]
        } else {
            check_len(robot, "joint_offset_rad", &cfg.joint_offset_rad)?;
            cfg.joint_offset_rad.clone()
        };

        let n = spec.num_joints();
        let command = JointCommand::new(&spec);
        let mut sim = SimRobot {
            spec,
            robot,
            world,
            multibody,
            joints,
            links,
            imu_body,
            imu_rotation: imu_offset.rotation,
            base_body,
            ee,
            physics_dt_s: cfg.physics_dt_s,
            time_s: 0.0,
            steps: 0,
            active: false,
            command,
            applied_nm: vec![0.0; n],
            gravity_comp_nm: vec![0.0; n],
            base_push: Vector::ZERO,
            imu_prev_linvel: Vector::ZERO,
            imu_accel_world: [0.0; 3],
            noise: cfg.noise,
            profile: None,
            rng,
            motor_strength: 1.0,
            rated_strength: cfg.motor_strength,
            gain_scale: cfg.gain_scale,
            joint_offset_rad,
            base_mprops,
            payload_kg: cfg.payload_kg,
        };
        sim.imu_prev_linvel = sim.world.bodies[sim.imu_body].linvel();
        Ok(sim)
    }

    /// The physics step (s).
    pub fn physics_dt_s(&self) -> f64 {
        self.physics_dt_s
    }

    /// Simulated time since construction (s).
    pub fn time_s(&self) -> f64 {
        self.time_s
    }

    /// Physics steps taken since construction.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    fn multibody(&self) -> &Multibody {
        self.world
            .multibody_joints
            .get_multibody(self.multibody)
            .expect("multibody index is fixed at construction")
    }

    /// Joint position and velocity of actuated joint `i` (hardware order).
    fn joint_q_dq(&self, mb: &Multibody, i: usize) -> (f64, f64) {
        let j = &self.joints[i];
        let q = mb
            .link(j.link_id)
            .map(|l| l.joint().coords()[3])
            .unwrap_or(0.0);
        let dq = mb.generalized_velocity()[j.dof];
        (q as f64, dq as f64)
    }

    /// Generalized gravity force per actuated joint, negated: what the driver adds to hold
    /// the arm against gravity. Uses the body Jacobians of the last forward kinematics.
    fn update_gravity_compensation(&mut self) {
        let mb = self
            .world
            .multibody_joints
            .get_multibody(self.multibody)
            .expect("multibody index is fixed at construction");
        for (i, j) in self.joints.iter().enumerate() {
            let mut tau = 0.0f64;
            for &(link_id, body) in &self.links {
                let m = self.world.bodies[body].mass() as f64;
                // Row 2 of the Jacobian maps generalized velocity to the body COM's z velocity.
                let jz = mb.body_jacobian(link_id)[(2, j.dof)] as f64;
                tau += jz * m * GRAVITY_M_S2;
            }
            self.gravity_comp_nm[i] = tau;
        }
    }

    /// Advances physics by `n` steps, applying the latched command as a motor driver does
    /// before each step. Not part of the RT cycle: it stands in for the robot's own time.
    pub fn step(&mut self, n: usize) {
        for _ in 0..n {
            self.step_once();
        }
    }

    /// Starts summing where each physics step's time goes (Rapier's stage counters; timing
    /// itself costs about a microsecond per step, so benchmarks only).
    pub fn enable_profile(&mut self) {
        self.world.physics_pipeline.counters.enable();
        self.profile = Some(PhysicsProfile::default());
    }

    /// The stage times since [`SimRobot::enable_profile`], if profiling.
    pub fn profile(&self) -> Option<PhysicsProfile> {
        self.profile
    }

    fn step_once(&mut self) {
        let t0 = self.profile.is_some().then(std::time::Instant::now);
        if self.robot.driver_gravity_compensation && self.active {
            self.update_gravity_compensation();
        }
        for i in 0..self.joints.len() {
            let (q, dq) = {
                let mb = self.multibody();
                self.joint_q_dq(mb, i)
            };
            let tau = if self.active {
                let driver = if self.gain_scale == 1.0 {
                    self.command.torque_nm(i, q, dq)
                } else {
                    let ff = self.command.effort_ff_nm[i];
                    (self.command.torque_nm(i, q, dq) - ff) * self.gain_scale + ff
                };
                let raw = driver * self.rated_strength + self.gravity_comp_nm[i];
                let limit = self.spec.limits[i].effort_nm * self.rated_strength;
                raw.clamp(-limit, limit) * self.motor_strength
            } else {
                0.0
            };
            self.applied_nm[i] = tau;
        }
        for body in self.links.iter().map(|&(_, b)| b) {
            if let Some(rb) = self.world.bodies.get_mut(body) {
                rb.reset_forces(false);
                rb.reset_torques(false);
            }
        }
        for (i, j) in self.joints.iter().enumerate() {
            let tau = self.applied_nm[i] as Real;
            let axis_world = {
                let child = &self.world.bodies[j.child];
                child.rotation() * j.axis_in_child
            };
            self.world.bodies[j.child].add_torque(axis_world * tau, false);
            self.world.bodies[j.parent].add_torque(-axis_world * tau, false);
        }
        if self.base_push != Vector::ZERO {
            self.world.bodies[self.base_body].add_force(self.base_push, false);
        }
        self.world.step();
        self.steps += 1;
        self.time_s = self.steps as f64 * self.physics_dt_s;

        let v = self.world.bodies[self.imu_body].linvel();
        let a = (v - self.imu_prev_linvel) / self.physics_dt_s as Real;
        self.imu_prev_linvel = v;
        self.imu_accel_world = [a.x as f64, a.y as f64, a.z as f64];
        if let (Some(p), Some(t0)) = (self.profile.as_mut(), t0) {
            p.add(
                &self.world.physics_pipeline.counters,
                t0.elapsed().as_nanos() as u64,
            );
        }
    }

    /// Ground truth of the base (simulator only; see [`GroundTruth`]).
    pub fn ground_truth(&self) -> GroundTruth {
        let rb = &self.world.bodies[self.base_body];
        let p = rb.position();
        let r = p.rotation;
        let v = rb.linvel();
        let w = rb.angvel();
        GroundTruth {
            base_position_m: [
                p.translation.x as f64,
                p.translation.y as f64,
                p.translation.z as f64,
            ],
            base_orientation_xyzw: [r.x as f64, r.y as f64, r.z as f64, r.w as f64],
            base_linear_velocity_m_s: [v.x as f64, v.y as f64, v.z as f64],
            base_angular_velocity_rad_s: [w.x as f64, w.y as f64, w.z as f64],
        }
    }

    /// Pushes the base with `force_n` (world frame, N, at its centre of mass) on every physics
    /// step until set back to zero.
    pub fn set_base_push(&mut self, force_n: [f64; 3]) {
        self.base_push = Vector::new(force_n[0] as Real, force_n[1] as Real, force_n[2] as Real);
    }

    /// A world effect: the base carries `change_kg` more than its configured payload (negative:
    /// part or all of the payload is lost; never below none), at the base's centre of mass.
    pub fn set_payload_change(&mut self, change_kg: f64) {
        let Some(m) = self.base_mprops else { return };
        let total = (self.payload_kg + change_kg).max(0.0);
        let mut with = m;
        if total > 0.0 {
            with += MassProperties::new(m.local_com, total as Real, AngVector::ZERO);
        }
        self.world.bodies[self.base_body].set_additional_mass_properties(with, true);
    }

    /// A world effect: the motors deliver `strength` (0–1) of the torque the driver computes.
    pub fn set_motor_strength(&mut self, strength: f64) {
        self.motor_strength = strength;
    }

    fn gauss(&mut self, std: f64) -> f64 {
        if std > 0.0 {
            let z: f64 = self.rng.sample(StandardNormal);
            z * std
        } else {
            0.0
        }
    }
}

impl Robot for SimRobot {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    fn activate(&mut self) -> Result<(), HwError> {
        // A freshly activated driver holds position with zero gains until told otherwise.
        self.active = true;
        Ok(())
    }

    fn deactivate(&mut self) -> Result<(), HwError> {
        self.active = false;
        Ok(())
    }

    fn read(&mut self, out: &mut RobotState) -> Result<(), HwError> {
        let n = self.joints.len();
        if out.num_joints() != n {
            return Err(HwError::SizeMismatch {
                expected: n,
                got: out.num_joints(),
            });
        }
        out.stamp_s = self.time_s;
        for i in 0..n {
            let (q, dq) = self.joint_q_dq(self.multibody(), i);
            let nq = self.gauss(self.noise.joint_position_rad);
            let nv = self.gauss(self.noise.joint_velocity_rad_s);
            out.joints.position_rad[i] = q + self.joint_offset_rad[i] + nq;
            out.joints.velocity_rad_s[i] = dq + nv;
            out.joints.effort_nm[i] = self.applied_nm[i];
        }
        let imu = &self.world.bodies[self.imu_body];
        let rot = *imu.rotation() * self.imu_rotation;
        let inv = rot.inverse();
        let w = inv * imu.angvel();
        let a = self.imu_accel_world;
        let specific_world = Vector::new(a[0] as Real, a[1] as Real, (a[2] + GRAVITY_M_S2) as Real);
        let acc = inv * specific_world;
        out.imu.orientation_xyzw = [rot.x as f64, rot.y as f64, rot.z as f64, rot.w as f64];
        let (gn, an) = (self.noise.gyro_rad_s, self.noise.accelerometer_m_s2);
        out.imu.angular_velocity_rad_s = [
            w.x as f64 + self.gauss(gn),
            w.y as f64 + self.gauss(gn),
            w.z as f64 + self.gauss(gn),
        ];
        out.imu.linear_acceleration_m_s2 = [
            acc.x as f64 + self.gauss(an),
            acc.y as f64 + self.gauss(an),
            acc.z as f64 + self.gauss(an),
        ];
        if !self.robot.fixed_base {
            // The simulator's state estimate of the base velocity is exact (base frame).
            let base = &self.world.bodies[self.base_body];
            let v = base.rotation().inverse() * base.linvel();
            out.base_linear_velocity_m_s = Some([v.x as f64, v.y as f64, v.z as f64]);
        }
        if let (Some((body, offset)), Some(ee)) = (self.ee, out.end_effector.as_mut()) {
            let base_inv = self.world.bodies[self.base_body].position().inverse();
            let pose = base_inv * *self.world.bodies[body].position() * offset;
            let p = pose.translation;
            let r = pose.rotation;
            ee.position_m = [p.x as f64, p.y as f64, p.z as f64];
            ee.orientation_xyzw = [r.x as f64, r.y as f64, r.z as f64, r.w as f64];
            // No contact sensing in the shipped scene: the arm touches nothing, so the
            // external wrench is zero by construction.
            ee.force_n = [0.0; 3];
            ee.torque_nm = [0.0; 3];
        }
        Ok(())
    }

    fn write(&mut self, cmd: &JointCommand) -> Result<(), HwError> {
        if !self.active {
            return Err(HwError::NotActive);
        }
        if cmd.num_joints() != self.joints.len() {
            return Err(HwError::SizeMismatch {
                expected: self.joints.len(),
                got: cmd.num_joints(),
            });
        }
        self.command.copy_from(cmd);
        Ok(())
    }
}
