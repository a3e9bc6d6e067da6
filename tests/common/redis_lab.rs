//! Runs the pods of a rendered profile as real Redis processes on loopback,
//! from the files `render` produced: the ConfigMaps and the Secret become
//! directories, the container's command and environment come from the pod
//! spec, so the Secret's password is the one Redis gets.
//!
//! The only changes, as a node would see them: every mount path points at a
//! directory of the pod in a temp dir, each pod gets a loopback address of
//! its own (127.x.y.z, so the real ports 6379/26379/16379 are used without
//! colliding with anything), `bind * -::*` binds that address and the
//! scripts' `LOCALHOST` is it, and the cluster DNS is a hosts file that each
//! process sees as /etc/hosts in its own mount namespace. Scripts run under
//! busybox's sh and applets, as in the Alpine image.

use std::collections::BTreeMap;
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use cafectl::profile::{self, ProfileRequest, SetOverride, ValidProfile};
use cafectl::render::{self, Object};
use serde_json::Value;

use super::resp::Connection;

/// A strong test password, passed with --set so that it reaches Redis
/// through the rendered Secret.
pub const PASSWORD: &str = "cafectl-test-0123456789abcdef";

const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "timeout", "sed", "tr", "head", "cat", "sleep", "mv", "grep", "printf", "date", "env",
    "wc", "sort", "cut",
];

static NEXT_LAB: AtomicU8 = AtomicU8::new(0);

pub struct Lab {
    pub root: tempfile::TempDir,
    pub profile: ValidProfile,
    pub objects: Vec<Object>,
    pub password: String,
    hosts_file: PathBuf,
    busybox_bin: PathBuf,
    addresses: Vec<Ipv4Addr>,
    processes: Vec<Process>,
}

/// A running container of a pod.
struct Process {
    ordinal: usize,
    container: String,
    child: Child,
}

/// A shipped profile with `sets` and the test password, rendered.
fn render_profile(profile_name: &str, sets: &[&str]) -> (ValidProfile, Vec<Object>) {
    let password_set = format!("redis.auth.password={PASSWORD}");
    let request = ProfileRequest {
        files: vec![super::profile_path(profile_name)],
        sets: sets
            .iter()
            .copied()
            .chain([password_set.as_str()])
            .map(|set| set.parse::<SetOverride>().unwrap())
            .collect(),
        namespace: None,
    };
    let profile = profile::load(&request).unwrap();
    let objects = render::render(&profile).unwrap();
    (profile, objects)
}

/// Whether the topology tests can run here: they need root (for a private
/// /etc/hosts per process) and the Redis and busybox binaries.
pub fn available() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout == b"0\n");
    if !root {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Redis topology tests must run as root on CI"
        );
        eprintln!(
            "skipped: the Redis topology tests need root for a private /etc/hosts per process"
        );
        return false;
    }
    [
        "redis-server",
        "redis-cli",
        "redis-sentinel",
        "unshare",
        "busybox",
        "getent",
    ]
    .iter()
    .all(|program| super::require_program(program, "real Redis on loopback").is_some())
}

impl Lab {
    pub fn new(profile_name: &str, sets: &[&str]) -> Lab {
        let (profile, objects) = render_profile(profile_name, sets);
        let mut root = tempfile::Builder::new()
            .prefix("cafectl-lab-")
            .tempdir()
            .unwrap();
        root.disable_cleanup(std::env::var_os("CAFECTL_KEEP_LAB").is_some());

        let secret = find(&objects, "Secret", None);
        let password = secret.value["stringData"]["password"]
            .as_str()
            .unwrap()
            .to_owned();

        // 127.A.B.C: A and B from the process id, so that concurrent runs do
        // not collide; C from the lab and the pod.
        let lab = NEXT_LAB.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id();
        let base = [127, 100 + (pid % 100) as u8, ((pid / 100) % 250) as u8];
        let replicas = find(&objects, "StatefulSet", None).value["spec"]["replicas"]
            .as_u64()
            .unwrap() as usize;
        let addresses = (0..replicas)
            .map(|ordinal| Ipv4Addr::new(base[0], base[1], base[2], lab * 40 + 1 + ordinal as u8))
            .collect();

        let busybox_bin = root.path().join("busybox-bin");
        fs::create_dir_all(&busybox_bin).unwrap();
        let busybox = super::require_program("busybox", "the image's shell").unwrap();
        for applet in BUSYBOX_APPLETS {
            std::os::unix::fs::symlink(&busybox, busybox_bin.join(applet)).unwrap();
        }

        let hosts_file = root.path().join("hosts");
        let lab = Lab {
            root,
            profile,
            objects,
            password,
            hosts_file,
            busybox_bin,
            addresses,
            processes: Vec::new(),
        };
        lab.write_hosts();
        lab
    }

    pub fn pods(&self) -> usize {
        self.addresses.len()
    }

    /// The profile again with `sets`, as `apply` of a changed profile: the
    /// processes running keep their files; pods it adds get addresses (and
    /// names in the DNS) and start with the new files, as does the Job.
    pub fn render_again(&mut self, profile_name: &str, sets: &[&str]) {
        let (profile, objects) = render_profile(profile_name, sets);
        self.profile = profile;
        self.objects = objects;
        let replicas = find(&self.objects, "StatefulSet", None).value["spec"]["replicas"]
            .as_u64()
            .unwrap() as usize;
        while self.addresses.len() < replicas {
            let address = self.unused_address();
            self.addresses.push(address);
        }
        self.write_hosts();
    }

    pub fn ip(&self, ordinal: usize) -> IpAddr {
        IpAddr::V4(self.addresses[ordinal])
    }

    /// `<pod>.<service>.<namespace>.svc.<domain>`, as the pod announces itself.
    pub fn hostname(&self, ordinal: usize) -> String {
        let statefulset = find(&self.objects, "StatefulSet", None);
        format!(
            "{}-{ordinal}.{}.{}.svc.{}",
            statefulset.name,
            statefulset.value["spec"]["serviceName"].as_str().unwrap(),
            self.profile.profile.namespace,
            self.profile.profile.cluster_domain
        )
    }

    /// The pod whose hostname (or address) this is.
    pub fn ordinal_of(&self, host: &str) -> Option<usize> {
        (0..self.pods()).find(|ordinal| {
            self.hostname(*ordinal) == host || self.ip(*ordinal).to_string() == host
        })
    }

    /// The lab's next address no pod has had.
    fn unused_address(&self) -> Ipv4Addr {
        let [a, b, c, _] = self.addresses[0].octets();
        let last = self
            .addresses
            .iter()
            .map(|address| address.octets()[3])
            .max()
            .unwrap();
        Ipv4Addr::new(a, b, c, last + 1)
    }

    /// Moves a pod to a new address, as a rescheduled pod gets a new IP; the
    /// DNS follows at once. Takes effect for the pod on its next start.
    pub fn readdress(&mut self, ordinal: usize) -> IpAddr {
        self.addresses[ordinal] = self.unused_address();
        self.write_hosts();
        self.ip(ordinal)
    }

    /// Rewritten in place: every process's bind mount follows the inode.
    /// Each name also with its trailing dot, as the scripts ask for it (a
    /// hosts file matches names literally; the cluster DNS takes both).
    fn write_hosts(&self) {
        let mut text = String::from("127.0.0.1 localhost\n");
        for ordinal in 0..self.pods() {
            let hostname = self.hostname(ordinal);
            text.push_str(&format!(
                "{} {hostname} {hostname}.\n",
                self.addresses[ordinal]
            ));
        }
        fs::write(&self.hosts_file, text).unwrap();
    }

    pub fn pod_dir(&self, ordinal: usize) -> PathBuf {
        self.root.path().join(format!("pod-{ordinal}"))
    }

    /// Starts one container of a StatefulSet pod with its rendered command.
    pub fn start(&mut self, ordinal: usize, container: &str) {
        let pod_spec =
            find(&self.objects, "StatefulSet", None).value["spec"]["template"]["spec"].clone();
        let directory = self.pod_dir(ordinal);
        let pod_name = format!(
            "{}-{ordinal}",
            find(&self.objects, "StatefulSet", None).name
        );
        let ip = self.ip(ordinal);
        let child = self.spawn(
            &pod_spec,
            container,
            &directory,
            &pod_name,
            Some(ip),
            &format!("{container}-{ordinal}"),
        );
        self.processes.push(Process {
            ordinal,
            container: container.to_owned(),
            child,
        });
    }

    /// Runs the cluster bootstrap Job's container to the end.
    pub fn run_job(&mut self, run: usize, timeout: Duration) -> (bool, String) {
        let job = find(&self.objects, "Job", None);
        let pod_spec = job.value["spec"]["template"]["spec"].clone();
        let directory = self.root.path().join(format!("job-{run}"));
        let child = self.spawn(
            &pod_spec,
            "bootstrap",
            &directory,
            &format!("{}-{run}", job.name),
            None,
            "bootstrap",
        );
        let log = directory.join("bootstrap.log");
        wait_for_child(child, timeout, &log)
    }

    /// Runs `shrink.sh`, after this version's lib.sh, in pod `ordinal`'s
    /// Redis container as `cafectl apply` does through pod exec, with the
    /// `going` pods as its arguments.
    pub fn run_shrink(
        &mut self,
        ordinal: usize,
        going: &[&str],
        timeout: Duration,
    ) -> (bool, String) {
        let statefulset = find(&self.objects, "StatefulSet", None);
        let scripts = &find(&self.objects, "ConfigMap", Some("redis-scripts")).value["data"];
        let script = format!(
            "exec 2>&1\n{}\n{}",
            scripts["lib.sh"].as_str().unwrap(),
            scripts["shrink.sh"].as_str().unwrap()
        );
        let mut pod_spec = statefulset.value["spec"]["template"]["spec"].clone();
        let mut command = vec![
            Value::from("sh"),
            "-c".into(),
            script.into(),
            "shrink.sh".into(),
        ];
        command.extend(going.iter().map(|pod| Value::from(*pod)));
        for container in pod_spec["containers"].as_array_mut().unwrap() {
            if container["name"] == "redis" {
                container["command"] = Value::Array(command.clone());
            }
        }
        let pod_name = format!("{}-{ordinal}", statefulset.name);
        let directory = self.pod_dir(ordinal);
        let child = self.spawn(
            &pod_spec,
            "redis",
            &directory,
            &pod_name,
            Some(self.ip(ordinal)),
            "shrink",
        );
        wait_for_child(child, timeout, &directory.join("shrink.log"))
    }

    /// SIGKILL: the process dies as a node or an OOM kill would end it.
    pub fn kill(&mut self, ordinal: usize, container: &str) {
        let position = self
            .processes
            .iter()
            .position(|process| process.ordinal == ordinal && process.container == container)
            .unwrap_or_else(|| panic!("{container}-{ordinal} is not running"));
        let mut process = self.processes.remove(position);
        kill_group(&process.child);
        let _ = process.child.wait();
    }

    /// Connects to a pod's Redis (or sentinel) with the Secret's password.
    pub fn connect(&self, ordinal: usize, port: u16) -> std::io::Result<Connection> {
        Connection::authenticated(self.ip(ordinal), port, &self.password)
    }

    /// The last lines every process wrote, for a failing assertion.
    pub fn logs(&self) -> String {
        let mut logs = String::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in fs::read_dir(self.root.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            for log in fs::read_dir(entry.path()).into_iter().flatten().flatten() {
                if log
                    .path()
                    .extension()
                    .is_some_and(|extension| extension == "log")
                {
                    files.push(log.path());
                }
            }
        }
        files.sort();
        for file in files {
            let text = fs::read_to_string(&file).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            logs.push_str(&format!("--- {}\n", file.display()));
            for line in tail.into_iter().rev() {
                logs.push_str(line);
                logs.push('\n');
            }
        }
        logs
    }

    /// Polls `check` until it returns a value, or fails the test with the
    /// processes' logs after `timeout`.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            if let Some(value) = check() {
                return value;
            }
            if started.elapsed() > timeout {
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn spawn(
        &self,
        pod_spec: &Value,
        container: &str,
        directory: &Path,
        pod_name: &str,
        ip: Option<IpAddr>,
        log_name: &str,
    ) -> Child {
        let spec = pod_spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|candidate| candidate["name"] == container)
            .unwrap_or_else(|| panic!("no container {container}"))
            .clone();

        // Mount path (of any container of the pod: they share the files)
        // -> the directory of that volume in this pod.
        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        for mount in pod_spec["containers"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["volumeMounts"].as_array().unwrap())
        {
            let local = directory.join(mount["name"].as_str().unwrap());
            fs::create_dir_all(&local).unwrap();
            mounts.push((mount["mountPath"].as_str().unwrap().to_owned(), local));
        }
        // Longest first, so that a path inside another is matched whole.
        mounts.sort_by(|a, b| (b.0.len(), &b.0).cmp(&(a.0.len(), &a.0)));
        mounts.dedup_by(|a, b| a.0 == b.0);
        let localize = |text: &str| {
            // Through placeholders, so no local path is rewritten again.
            let mut text = text.to_owned();
            for (index, (path, _)) in mounts.iter().enumerate() {
                text = text.replace(path.as_str(), &format!("\u{0}{index}\u{0}"));
            }
            for (index, (_, local)) in mounts.iter().enumerate() {
                text = text.replace(&format!("\u{0}{index}\u{0}"), local.to_str().unwrap());
            }
            match ip {
                Some(ip) => text
                    .replace("bind * -::*", &format!("bind {ip}"))
                    .replace("LOCALHOST=127.0.0.1", &format!("LOCALHOST={ip}")),
                None => text,
            }
        };
        for mount in spec["volumeMounts"].as_array().unwrap() {
            let volume_name = mount["name"].as_str().unwrap();
            let volume = pod_spec["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|volume| volume["name"] == volume_name);
            let data = if let Some(secret) =
                volume.and_then(|volume| volume["secret"]["secretName"].as_str())
            {
                &find(&self.objects, "Secret", Some(secret)).value["stringData"]
            } else if let Some(config_map) =
                volume.and_then(|volume| volume["configMap"]["name"].as_str())
            {
                &find(&self.objects, "ConfigMap", Some(config_map)).value["data"]
            } else {
                continue; // emptyDir or a volume claim: a plain directory
            };
            for (file, text) in data.as_object().unwrap() {
                let path = directory.join(volume_name).join(file);
                // Replaced, never rewritten in place: the pod's other
                // container may be reading it (a shell reads its script as
                // it runs), as the kubelet swaps ConfigMap files atomically.
                let staged = path.with_extension("staged");
                fs::write(&staged, localize(text.as_str().unwrap())).unwrap();
                fs::rename(&staged, &path).unwrap();
            }
        }

        let command: Vec<String> = spec["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|arg| localize(arg.as_str().unwrap()))
            .collect();
        let mut environment = BTreeMap::new();
        // (The password is a file, from the Secret volume above.)
        for variable in spec["env"].as_array().into_iter().flatten() {
            let name = variable["name"].as_str().unwrap().to_owned();
            let value = if let Some(value) = variable["value"].as_str() {
                value.to_owned()
            } else {
                match variable["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("metadata.name") => pod_name.to_owned(),
                    Some("status.podIP") => ip.expect("a pod with an IP").to_string(),
                    other => panic!("unsupported env source {other:?}"),
                }
            };
            environment.insert(name, value);
        }

        let log = fs::File::create(directory.join(format!("{log_name}.log"))).unwrap();
        let path = format!(
            "{}:{}",
            self.busybox_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        // A private /etc/hosts: the cluster's DNS for this process only.
        Command::new("unshare")
            .args([
                "--mount",
                "--",
                "/bin/sh",
                "-c",
                r#"mount --bind "$0" /etc/hosts && exec "$@""#,
            ])
            .arg(&self.hosts_file)
            .args(&command)
            .env_clear()
            .env("PATH", path)
            .envs(&environment)
            .current_dir(directory)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for process in &mut self.processes {
            kill_group(&process.child);
            let _ = process.child.wait();
        }
    }
}

/// Waits for a script's process up to `timeout` (then kills it): whether it
/// succeeded, and what it logged.
fn wait_for_child(mut child: Child, timeout: Duration, log: &Path) -> (bool, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > timeout {
            kill_group(&child);
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = fs::read_to_string(log).unwrap_or_default();
    (status.is_some_and(|status| status.success()), output)
}

fn kill_group(child: &Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .status();
}

/// The object of `kind` (named `name`, or the only one).
pub fn find<'a>(objects: &'a [Object], kind: &str, name: Option<&str>) -> &'a Object {
    objects
        .iter()
        .find(|object| object.kind == kind && name.is_none_or(|name| object.name == name))
        .unwrap_or_else(|| panic!("no {kind} {name:?} rendered"))
}
