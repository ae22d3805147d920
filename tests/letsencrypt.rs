//! Let's Encrypt through `jinit acme`, against a real ACME server on loopback: Debian's pebble
//! (2.5 or later for ARI: tests/ci.sh installs trixie's) with pebble-challtestsrv as its DNS, and Debian's nginx serving the HTTP-01 challenges
//! while it keeps running. A TLS client (curl) that trusts only pebble's root checks what
//! nginx serves.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DOMAIN: &str = "meet.jitsi.test";

/// A child process killed when the test ends, whatever happens.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// pebble + pebble-challtestsrv on free ports, with a CA of the test's own for pebble's TLS.
struct Pebble {
    s: Sandbox,
    dir_url: String,
    mgmt: u16,
    /// The port pebble validates HTTP-01 on: nginx's HTTP port.
    http_port: u16,
    dns: u16,
    dns_mgmt: u16,
    procs: Vec<Proc>,
}

impl Pebble {
    fn new() -> Pebble {
        let s = Sandbox::new();
        // A test CA and a certificate for pebble's own HTTPS listener.
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "jinit test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        s.write("test-ca.pem", &ca_cert.pem());
        s.write("pebble-cert.pem", &cert.pem());
        s.write("pebble-key.pem", &key.serialize_pem());
        let (listen, mgmt, http_port, dns, dns_mgmt, tls) = (
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        s.write(
            "pebble.json",
            &format!(
                r#"{{"pebble": {{"listenAddress": "127.0.0.1:{listen}", "managementListenAddress": "127.0.0.1:{mgmt}",
                "certificate": "{c}", "privateKey": "{k}", "httpPort": {http_port}, "tlsPort": {tls},
                "ocspResponderURL": "", "externalAccountBindingRequired": false}}}}"#,
                c = s.path("pebble-cert.pem").display(),
                k = s.path("pebble-key.pem").display()
            ),
        );
        let mut p = Pebble {
            dir_url: format!("https://127.0.0.1:{listen}/dir"),
            mgmt,
            http_port,
            dns,
            dns_mgmt,
            procs: Vec::new(),
            s,
        };
        p.start_dns();
        p.start();
        p
    }

    fn start_dns(&mut self) {
        let log = std::fs::File::create(self.s.path("challtestsrv.log")).unwrap();
        let child = Command::new("pebble-challtestsrv")
            .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
            .args(["-dns01", &format!("127.0.0.1:{}", self.dns)])
            .args(["-management", &format!("127.0.0.1:{}", self.dns_mgmt)])
            .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble-challtestsrv (apt-get install pebble)");
        self.procs.push(Proc(child));
        wait_for_showing(
            "challtestsrv",
            secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", self.dns_mgmt)).is_ok(),
            || self.s.read("challtestsrv.log"),
        );
    }

    /// Starts pebble (again); returns once its directory answers.
    fn start(&mut self) {
        let log = std::fs::File::create(self.s.path("pebble.log")).unwrap();
        let child = Command::new("pebble")
            .args(["-config", &self.s.p("pebble.json")])
            .args(["-dnsserver", &format!("127.0.0.1:{}", self.dns)])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("pebble (apt-get install pebble)");
        self.procs.push(Proc(child));
        let port = self
            .dir_url
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap();
        wait_for_showing(
            "pebble",
            secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
            || self.s.read("pebble.log"),
        );
    }

    /// Stops pebble only (DNS stays).
    fn stop(&mut self) {
        self.procs.pop();
    }

    /// Makes every name unresolvable (the challenge server answers with no address).
    fn break_dns(&self) {
        let out = Command::new("curl")
            .args([
                "-s",
                "-d",
                r#"{"ip":""}"#,
                &format!("http://127.0.0.1:{}/set-default-ipv4", self.dns_mgmt),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    /// Pebble's current root, for a TLS client that trusts nothing else.
    fn root(&self) -> PathBuf {
        let path = self.s.path("pebble-root.pem");
        let out = Command::new("curl")
            .args(["-sf", "--cacert", &self.s.p("test-ca.pem")])
            .arg(format!("https://127.0.0.1:{}/roots/0", self.mgmt))
            .output()
            .unwrap();
        assert!(out.status.success(), "cannot fetch pebble's root");
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("ENABLE_LETSENCRYPT".into(), "1".into()),
            ("LETSENCRYPT_DOMAIN".into(), DOMAIN.into()),
            ("LETSENCRYPT_EMAIL".into(), "ops@jitsi.test".into()),
            ("LETSENCRYPT_ACME_SERVER".into(), self.dir_url.clone()),
            ("SSL_CERT_FILE".into(), self.s.p("test-ca.pem")),
        ]
    }
}

/// A web "image": jinit running nginx (HTTP for challenges, HTTPS with the self-signed
/// certificate until the first issued one exists) and `jinit acme` as a service.
struct Web {
    s: Sandbox,
    https_port: u16,
}

impl Web {
    fn new(p: &Pebble) -> Web {
        let s = Sandbox::new();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![DOMAIN.into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        s.write("selfsigned/cert.crt", &cert.pem());
        s.write("selfsigned/cert.key", &key.serialize_pem());
        std::fs::create_dir_all(s.path("webroot")).unwrap();
        std::fs::create_dir_all(s.path("tmp")).unwrap();
        let https_port = free_port();
        let le = s.path(&format!("storage/acme-certs/{DOMAIN}"));
        s.write(
            "tpl/web/nginx.conf",
            &format!(
                r#"user root;
pid {d}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 127.0.0.1:{http};
    location ^~ /.well-known/acme-challenge/ {{ root {d}/webroot; default_type text/plain; }}
    location / {{ return 200 "http\n"; }}
  }}
  server {{
    listen 127.0.0.1:{https} ssl;
{{% if file_exists("{le}/fullchain.pem") %}}
    ssl_certificate {le}/fullchain.pem;
    ssl_certificate_key {le}/key.pem;
{{% else %}}
    ssl_certificate {d}/selfsigned/cert.crt;
    ssl_certificate_key {d}/selfsigned/cert.key;
{{% endif %}}
    location / {{ return 200 "https\n"; }}
  }}
}}
"#,
                d = s.dir().display(),
                http = p.http_port,
                https = https_port,
                le = le.display()
            ),
        );
        s.write(
            "spec.toml",
            &format!(
                r#"
[jinit]
kill-delay = "5s"
watch = ["{{D}}/storage/acme-certs"]

[[render]]
template = "web/nginx.conf"
dest = "{{D}}/run/nginx.conf"
validate = ["nginx", "-t", "-q", "-c", "{{}}"]
reload = "nginx"

[service.nginx]
command = ["nginx", "-c", "{{D}}/run/nginx.conf", "-g", "daemon off;"]
ready = {{ tcp = "127.0.0.1:{http}" }}
reload-signal = "HUP"
stop-signal = "QUIT"

[service.acme]
command = ["{jinit}", "acme", "--storage", "{{D}}/storage", "--webroot", "{{D}}/webroot", "--retry-min", "300ms"]
after = ["nginx"]
if = "ENABLE_LETSENCRYPT == '1'"
"#,
                http = p.http_port,
                jinit = JINIT
            ),
        );
        Web { s, https_port }
    }

    fn start(&self, p: &Pebble) -> Running {
        let env = p.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let spec = self.s.p("spec.toml");
        let tpl = self.s.p("tpl");
        self.s
            .start_clean(["--spec", &spec, "--templates", &tpl], &env)
    }

    /// jinit with nginx only: the acme service's `if` is false.
    fn start_nginx_only(&self, p: &Pebble) -> Running {
        let env = p.env();
        let env: Vec<(&str, &str)> = env
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str(),
                    if k == "ENABLE_LETSENCRYPT" {
                        "0"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        let spec = self.s.p("spec.toml");
        let tpl = self.s.p("tpl");
        let run = self
            .s
            .start_clean(["--spec", &spec, "--templates", &tpl], &env);
        run.wait_log("nginx: starting -> ready", secs(20));
        run
    }

    /// A first container run that obtains the certificate, stopped cleanly; returns the chain.
    fn issue_and_stop(&self, p: &Pebble) -> Vec<u8> {
        let run = self.start(p);
        run.wait_log("new certificate for meet.jitsi.test saved", secs(30));
        assert_eq!(run.stop(), 0);
        self.chain()
    }

    fn acme_once(&self, p: &Pebble) -> Outcome {
        let env = p.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let storage = self.s.p("storage");
        let webroot = self.s.p("webroot");
        self.s.run_clean(
            [
                "acme",
                "--once",
                "--storage",
                &storage,
                "--webroot",
                &webroot,
            ],
            &env,
        )
    }

    fn chain(&self) -> Vec<u8> {
        std::fs::read(
            self.s
                .path(&format!("storage/acme-certs/{DOMAIN}/fullchain.pem")),
        )
        .unwrap_or_default()
    }

    /// GET over HTTPS trusting only `ca`; Ok(body) or Err(curl's message).
    fn get(&self, ca: &Path) -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5", "--cacert"])
            .arg(ca)
            .args([
                "--resolve",
                &format!("{DOMAIN}:{}:127.0.0.1", self.https_port),
            ])
            .arg(format!("https://{DOMAIN}:{}/", self.https_port))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Puts a certificate for DOMAIN in storage that is due: 90 days of lifetime, 10 left.
    fn plant_due_certificate(&self) {
        plant_certificate(&self.s, DOMAIN, 90, 10);
    }
}

#[test]
fn first_issuance_with_nginx_running_then_nginx_serves_it() {
    let p = Pebble::new();
    let web = Web::new(&p);
    let run = web.start(&p);
    run.wait_log("nginx: starting -> ready", secs(20));
    let root = p.root();
    assert!(
        web.get(&root).is_err(),
        "self-signed at first: not trusted by pebble's root"
    );
    run.wait_log("new certificate for meet.jitsi.test saved", secs(30));
    // Old nginx workers finish their connections after the reload: wait until only new ones answer.
    wait_for_showing(
        "nginx serving the issued certificate",
        secs(20),
        || (0..5).all(|_| web.get(&root).is_ok()),
        || run.log(),
    );
    assert_eq!(web.get(&root), Ok("https\n".to_string()));
    let log = run.log();
    assert!(log.contains("reloaded nginx"), "{log}");
    assert!(
        !log.contains("nginx: ready -> "),
        "nginx kept running (no restart): {log}"
    );
    use std::os::unix::fs::PermissionsExt;
    let key = web.s.path(&format!("storage/acme-certs/{DOMAIN}/key.pem"));
    assert_eq!(
        std::fs::metadata(key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let status = web.s.run_clean(["status"], &[]);
    assert!(
        status
            .text()
            .contains("certificate meet.jitsi.test: expires"),
        "{}",
        status.text()
    );
    // The metrics say the same: expiry in the future, renewal before it, no failure.
    let metrics = web.s.run_clean(["metrics"], &[]).stdout;
    let expiry = acme_metric(&metrics, "certificate_expiry_timestamp_seconds");
    let renewal = acme_metric(&metrics, "renewal_timestamp_seconds");
    assert!(
        unix_now() + 86_400 < renewal && renewal < expiry,
        "{metrics}"
    );
    assert_eq!(acme_metric(&metrics, "failed_attempts"), 0, "{metrics}");
    assert!(acme_metric(&metrics, "last_success_timestamp_seconds") <= unix_now());
    assert_eq!(run.stop(), 0);
}

/// The value of `jinit_acme_NAME{domain="meet.jitsi.test"}` in `jinit metrics`' text.
fn acme_metric(text: &str, name: &str) -> u64 {
    let series = format!("jinit_acme_{name}{{domain=\"{DOMAIN}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series}in\n{text}"))
        .parse()
        .expect("a whole number")
}

#[test]
fn valid_certificate_is_not_reissued_and_a_restart_does_not_reissue() {
    let p = Pebble::new();
    let web = Web::new(&p);
    let first = web.issue_and_stop(&p);
    // A container restart: the same storage, a new jinit.
    let run = web.start(&p);
    run.wait_log("is valid until", secs(30));
    assert_eq!(web.chain(), first);
    assert_eq!(run.stop(), 0);
    let out = web.acme_once(&p);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.text().contains("is valid until"), "{}", out.text());
    assert_eq!(web.chain(), first, "not re-issued");
}

/// ACME Renewal Information (RFC 9773): for a certificate it issued, pebble (2.5 and later)
/// suggests a renewal window, and that window, not jinit's own one-third rule, sets the next
/// renewal. Exercises the certificate identifier (authority key id and serial) end to end.
#[test]
fn the_cas_renewal_window_decides_when_it_offers_one() {
    let p = Pebble::new();
    let web = Web::new(&p);
    let first = web.issue_and_stop(&p);
    let out = web.acme_once(&p);
    assert_eq!(out.code, 0, "{}", out.text());
    assert_line_with(
        &out.text(),
        &[
            "is valid until",
            "renewal from",
            "(the CA's renewal window)",
        ],
    );
    assert_eq!(web.chain(), first, "not re-issued");
}

#[test]
fn due_certificate_is_renewed_while_nginx_keeps_answering() {
    let p = Pebble::new();
    let web = Web::new(&p);
    web.plant_due_certificate();
    let old = web.chain();
    // Nginx starts with the planted (due) certificate; acme runs below, by hand.
    let run = web.start_nginx_only(&p);
    // Hammer nginx over HTTPS during the renewal and the reload.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (port, flag) = (web.https_port, stop.clone());
    let hammer = std::thread::spawn(move || {
        let (mut ok, mut failed) = (0u32, Vec::new());
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let out = Command::new("curl")
                .args([
                    "-sSk",
                    "--max-time",
                    "5",
                    "--resolve",
                    &format!("{DOMAIN}:{port}:127.0.0.1"),
                ])
                .arg(format!("https://{DOMAIN}:{port}/"))
                .output()
                .unwrap();
            if out.status.success() && out.stdout == b"https\n" {
                ok += 1;
            } else {
                failed.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        (ok, failed)
    });
    let out = web.acme_once(&p);
    assert_eq!(out.code, 0, "{}", out.text());
    assert!(out.text().contains("is due for renewal"), "{}", out.text());
    assert_ne!(web.chain(), old, "renewed");
    // acme --once asked jinit (JINIT_SOCKET) to reload: nginx now serves the new one.
    let root = p.root();
    wait_for_showing(
        "renewed certificate served",
        secs(20),
        || web.get(&root).is_ok(),
        || run.log(),
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = hammer.join().unwrap();
    assert!(ok > 5, "the load ran ({ok} requests)");
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the swap: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        failed
    );
    assert_eq!(run.stop(), 0);
}

#[test]
fn ca_down_keeps_the_old_certificate_and_succeeds_once_it_is_back() {
    let mut p = Pebble::new();
    p.stop();
    let web = Web::new(&p);
    let run = web.start(&p);
    run.wait_log("cannot talk to the ACME server", secs(30));
    run.wait_log("next try in", secs(5));
    let log = run.log();
    assert!(log.contains("Connection refused"), "{log}");
    wait_for_showing(
        "the metrics to count the failed attempt",
        secs(5),
        || {
            let text = web.s.run_clean(["metrics"], &[]).stdout;
            text.contains(&format!(
                "jinit_acme_failed_attempts{{domain=\"{DOMAIN}\"}} 1\n"
            ))
        },
        || web.s.run_clean(["metrics"], &[]).stdout,
    );
    assert!(
        !log.contains("acme: waiting -> ") || log.matches("acme: starting").count() <= 1,
        "no restart loop: {log}"
    );
    // Nginx still serves the self-signed certificate.
    let out = Command::new("curl")
        .args([
            "-sSk",
            "--resolve",
            &format!("{DOMAIN}:{}:127.0.0.1", web.https_port),
        ])
        .arg(format!("https://{DOMAIN}:{}/", web.https_port))
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"https\n");
    let started = Instant::now();
    p.start();
    run.wait_log("new certificate for meet.jitsi.test saved", secs(60));
    let root = p.root();
    wait_for_showing(
        "issued certificate served",
        secs(20),
        || web.get(&root).is_ok(),
        || run.log(),
    );
    assert!(started.elapsed() < Duration::from_secs(60));
    let metrics = web.s.run_clean(["metrics"], &[]).stdout;
    assert_eq!(acme_metric(&metrics, "failed_attempts"), 0, "{metrics}");
    assert!(acme_metric(&metrics, "certificate_expiry_timestamp_seconds") > unix_now());
    assert_eq!(run.stop(), 0);
}

#[test]
fn failed_challenge_and_unresolvable_domain_are_explained() {
    let p = Pebble::new();
    let web = Web::new(&p);
    // Challenge files written where nginx does not serve them.
    let env = p.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let storage = web.s.p("storage");
    let wrong = web.s.p("not-served");
    let nginx = web.start_nginx_only(&p);
    let out = web.s.run_clean(
        ["acme", "--once", "--storage", &storage, "--webroot", &wrong],
        &env,
    );
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert!(t.contains("validation of meet.jitsi.test failed"), "{t}");
    assert!(t.contains("404"), "the CA's own words: {t}");
    drop(nginx);
    // A name that does not resolve.
    p.break_dns();
    let storage2 = web.s.p("storage2");
    let out = web.s.run_clean(
        [
            "acme",
            "--once",
            "--storage",
            &storage2,
            "--webroot",
            &wrong,
        ],
        &env,
    );
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert!(
        t.contains("validation of meet.jitsi.test failed") || t.contains("meet.jitsi.test"),
        "{t}"
    );
    assert!(!web
        .s
        .path(&format!("storage2/acme-certs/{DOMAIN}/fullchain.pem"))
        .exists());
}

#[test]
fn two_containers_sharing_storage_issue_once() {
    let p = Pebble::new();
    let web = Web::new(&p);
    let _nginx = web.start_nginx_only(&p);
    let env = p.env();
    let storage = web.s.p("storage");
    let webroot = web.s.p("webroot");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = Command::new(JINIT);
            cmd.args([
                "acme",
                "--once",
                "--storage",
                &storage,
                "--webroot",
                &webroot,
            ]);
            cmd.env_clear()
                .env("PATH", std::env::var("PATH").unwrap())
                .env("JINIT_SOCKET", web.s.socket());
            for (k, v) in &env {
                cmd.env(k, v);
            }
            cmd.stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<String> = runs
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
        .collect();
    let issued = outs
        .iter()
        .filter(|t| t.contains("new certificate for"))
        .count();
    assert_eq!(issued, 1, "exactly one issuance: {outs:#?}");
    assert_eq!(
        outs.iter().filter(|t| t.contains("is valid until")).count(),
        1,
        "{outs:#?}"
    );
}

#[test]
fn bad_settings_and_unreachable_ca_are_clear() {
    let s = Sandbox::new();
    let storage = s.p("storage");
    let out = s.run_clean(
        ["acme", "--once", "--storage", &storage],
        &[("ENABLE_LETSENCRYPT", "true")],
    );
    let t = out.text();
    assert_eq!(out.code, 2, "{t}");
    assert!(t.contains("LETSENCRYPT_DOMAIN: required"), "{t}");
    assert!(t.contains("LETSENCRYPT_EMAIL: required"), "{t}");
    let out = s.run_clean(
        [
            "acme",
            "--once",
            "--storage",
            &storage,
            "--webroot",
            &storage,
        ],
        &[
            ("ENABLE_LETSENCRYPT", "yes"),
            ("LETSENCRYPT_DOMAIN", DOMAIN),
            ("LETSENCRYPT_EMAIL", "ops@jitsi.test"),
            (
                "LETSENCRYPT_ACME_SERVER",
                &format!("https://127.0.0.1:{}/dir", free_port()),
            ),
        ],
    );
    let t = out.text();
    assert_eq!(out.code, 1, "{t}");
    assert!(t.contains("cannot talk to the ACME server"), "{t}");
    let p = Pebble::new();
    let mut env = p.env();
    env.retain(|(k, _)| k != "LETSENCRYPT_EMAIL");
    env.push(("LETSENCRYPT_EMAIL".into(), "ops@@jitsi.test".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = s.run_clean(
        [
            "acme",
            "--once",
            "--storage",
            &storage,
            "--webroot",
            &storage,
        ],
        &env,
    );
    let t = out.text();
    assert!(
        t.contains("the CA rejects LETSENCRYPT_EMAIL=ops@@jitsi.test"),
        "{t}"
    );
}
