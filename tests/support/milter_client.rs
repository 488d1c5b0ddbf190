//! A small MTA side of the milter protocol for the tests (what Postfix's `milter8.c` does): negotiate, send
//! macros and commands, read the filter's responses. Blocking std sockets, TCP or unix. Also starts the real
//! `mailwacht serve` binary in milter mode on a free port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything Postfix 3.x offers with `milter_protocol = 6`.
pub const POSTFIX_PROTOCOL: u32 = 0x1f_ffff;
/// Every action Postfix supports.
pub const POSTFIX_ACTIONS: u32 = 0x1ff;

// Protocol flags the client needs to know (mfdef.h).
const NR_CONN: u32 = 1 << 12;
const NR_HELO: u32 = 1 << 13;
const NR_MAIL: u32 = 1 << 14;
const NR_RCPT: u32 = 1 << 15;
const NR_HDR: u32 = 1 << 7;
const NR_EOH: u32 = 1 << 18;
const HDR_LEADSPC: u32 = 1 << 20;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One response packet: its code and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resp {
    pub code: u8,
    pub data: Vec<u8>,
}

impl Resp {
    /// The data as text, NULs shown as `|`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).replace('\0', "|")
    }
}

/// A message as the MTA hands it over.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub rcpts: Vec<String>,
    /// `{auth_authen}` sent with the MAIL macros.
    pub auth: Option<String>,
    /// (name, value without the leading space)
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Body chunk size (Postfix: at most 65535).
    pub chunk: usize,
}

impl Mail {
    /// Split an RFC 5322 message (CRLF) into headers (unfolded names, folded values kept) and body.
    pub fn parse(from: &str, rcpts: &[&str], raw: &[u8]) -> Mail {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push('\n');
                    last.1.push_str(line);
                }
            } else if let Some((n, v)) = line.split_once(':') {
                headers.push((n.to_string(), v.strip_prefix(' ').unwrap_or(v).to_string()));
            }
        }
        Mail {
            from: from.into(),
            rcpts: rcpts.iter().map(|r| r.to_string()).collect(),
            auth: None,
            headers,
            body: body.as_bytes().to_vec(),
            chunk: 65535,
        }
    }
}

pub struct MilterClient {
    stream: Box<dyn Stream>,
    /// The protocol flags the filter asked for.
    pub protocol: u32,
    pub actions: u32,
    pub version: u32,
}

impl MilterClient {
    pub fn connect_tcp(addr: &str) -> MilterClient {
        let s = TcpStream::connect(addr).expect("connect milter");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        MilterClient::wrap(Box::new(s))
    }

    pub fn connect_unix(path: &Path) -> MilterClient {
        let s = UnixStream::connect(path).expect("connect milter socket");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        MilterClient::wrap(Box::new(s))
    }

    fn wrap(stream: Box<dyn Stream>) -> MilterClient {
        MilterClient {
            stream,
            protocol: 0,
            actions: 0,
            version: 0,
        }
    }

    /// Write one packet.
    pub fn send(&mut self, code: u8, data: &[u8]) {
        let wire = packet(code, data);
        self.stream.write_all(&wire).expect("write packet");
    }

    /// Write raw bytes (for split or broken packets).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
        self.stream.flush().expect("flush");
    }

    /// Read one response packet; `None` when the filter closed the connection.
    pub fn read(&mut self) -> Option<Resp> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let len = u32::from_be_bytes(len) as usize;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).ok()?;
        let (code, data) = body.split_first()?;
        Some(Resp {
            code: *code,
            data: data.to_vec(),
        })
    }

    /// SMFIC_OPTNEG as Postfix sends it; stores and returns the filter's answer.
    pub fn negotiate(&mut self, actions: u32, protocol: u32) -> (u32, u32, u32) {
        let mut data = Vec::new();
        for w in [6u32, actions, protocol] {
            data.extend_from_slice(&w.to_be_bytes());
        }
        self.send(b'O', &data);
        let r = self.read().expect("optneg answer");
        assert_eq!(r.code, b'O', "optneg answer {r:?}");
        let word = |i: usize| u32::from_be_bytes(r.data[i..i + 4].try_into().expect("4 bytes"));
        (self.version, self.actions, self.protocol) = (word(0), word(4), word(8));
        (self.version, self.actions, self.protocol)
    }

    /// Send a command; when the filter did not ask for "no reply" on it, read and check `continue`.
    fn step(&mut self, code: u8, data: &[u8], no_reply: u32) {
        self.send(code, data);
        if self.protocol & no_reply == 0 {
            let r = self.read().expect("reply");
            assert_eq!(r.code, b'c', "reply to {:?}: {r:?}", code as char);
        }
    }

    /// Macros for `for_command`.
    pub fn macros(&mut self, for_command: u8, pairs: &[(&str, &str)]) {
        let mut data = vec![for_command];
        for (n, v) in pairs {
            data.extend_from_slice(n.as_bytes());
            data.push(0);
            data.extend_from_slice(v.as_bytes());
            data.push(0);
        }
        self.send(b'D', &data);
    }

    /// CONNECT and HELO, with macros as Postfix sends them.
    pub fn connect_and_helo(&mut self) {
        self.macros(
            b'C',
            &[("j", "mx.school.example"), ("{daemon_name}", "smtpd")],
        );
        self.step(
            b'C',
            b"client.school.example\x004\x30\x39192.0.2.7\0",
            NR_CONN,
        );
        self.macros(b'H', &[]);
        self.step(b'H', b"client.school.example\0", NR_HELO);
    }

    /// MAIL, RCPT and the headers (up to and including EOH).
    pub fn envelope_and_headers(&mut self, mail: &Mail) {
        let mut pairs = vec![("i", "4XyZ1")];
        if let Some(auth) = &mail.auth {
            pairs.push(("{auth_authen}", auth.as_str()));
        }
        self.macros(b'M', &pairs);
        self.step(
            b'M',
            format!("<{}>\0BODY=8BITMIME\0", mail.from).as_bytes(),
            NR_MAIL,
        );
        for r in &mail.rcpts {
            self.macros(b'R', &[("{rcpt_addr}", r)]);
            self.step(b'R', format!("<{r}>\0").as_bytes(), NR_RCPT);
        }
        let lead = if self.protocol & HDR_LEADSPC != 0 {
            " "
        } else {
            ""
        };
        for (n, v) in &mail.headers {
            self.step(b'L', format!("{n}\0{lead}{v}\0").as_bytes(), NR_HDR);
        }
        self.step(b'N', b"", NR_EOH);
    }

    /// Body chunks; returns the first response that is not `continue` (e.g. a 552), if any.
    pub fn body(&mut self, mail: &Mail) -> Option<Resp> {
        for chunk in mail.body.chunks(mail.chunk.max(1)) {
            self.send(b'B', chunk);
            let r = self.read().expect("body reply");
            if r.code != b'c' {
                return Some(r);
            }
        }
        None
    }

    /// End of message: the responses up to and including the final one.
    pub fn end_of_message(&mut self) -> Vec<Resp> {
        self.send(b'E', b"");
        let mut out = Vec::new();
        loop {
            let r = self.read().expect("end-of-message answer");
            let last = matches!(r.code, b'a' | b'c' | b'd' | b'r' | b't' | b'y');
            out.push(r);
            if last {
                return out;
            }
        }
    }

    /// A whole message after connect/helo: the responses to end-of-message (or the body refusal).
    pub fn message(&mut self, mail: &Mail) -> Vec<Resp> {
        self.envelope_and_headers(mail);
        if let Some(refusal) = self.body(mail) {
            return vec![refusal];
        }
        self.end_of_message()
    }

    /// A fresh connection: negotiate as Postfix does, connect, helo.
    pub fn session_tcp(addr: &str) -> MilterClient {
        let mut c = MilterClient::connect_tcp(addr);
        c.negotiate(POSTFIX_ACTIONS, POSTFIX_PROTOCOL);
        c.connect_and_helo();
        c
    }
}

/// A framed packet.
pub fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut out = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    out.push(code);
    out.extend_from_slice(data);
    out
}

/// `mailwacht serve` in milter mode (SMTP listener off unless the config turns it on).
pub struct MilterDaemon {
    child: Child,
    /// `host:port` or `unix:/path`.
    pub milter: String,
    pub log: Arc<Mutex<Vec<String>>>,
    pub data_dir: PathBuf,
    pub config_path: PathBuf,
    pub tmp: tempfile::TempDir,
}

impl MilterDaemon {
    /// Start with `config` (TOML) and `--milter-listen <listen>`; `listen` may contain `{tmp}`.
    pub fn start(config: &str, listen: &str) -> MilterDaemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let config_path = tmp.path().join("mailwacht.toml");
        std::fs::write(&config_path, config).expect("write config");
        let data_dir = tmp.path().join("data");
        let listen = listen.replace("{tmp}", &tmp.path().display().to_string());
        let (child, milter, log) = super::daemon::spawn_serve(
            &config_path,
            &data_dir,
            &["--milter-listen", &listen],
            "milter_listen=",
        );
        MilterDaemon {
            child,
            milter,
            log,
            data_dir,
            config_path,
            tmp,
        }
    }

    /// A negotiated client session (TCP or unix, whichever the daemon listens on).
    pub fn session(&self) -> MilterClient {
        let mut c = match self.milter.strip_prefix("unix:") {
            Some(path) => MilterClient::connect_unix(Path::new(path)),
            None => MilterClient::connect_tcp(&self.milter),
        };
        c.negotiate(POSTFIX_ACTIONS, POSTFIX_PROTOCOL);
        c.connect_and_helo();
        c
    }

    /// Log lines containing all of `needles`.
    pub fn log_lines(&self, needles: &[&str]) -> Vec<String> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|l| needles.iter().all(|n| l.contains(n)))
            .cloned()
            .collect()
    }

    /// Wait until a log line contains all of `needles` (up to 30 s).
    pub fn wait_for_log(&self, needles: &[&str]) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !self.log_lines(needles).is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Send a signal to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -s {signal}");
    }

    /// Wait for the daemon to exit (up to 30 s); its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Run `mailwacht <args> --data-dir <data_dir>`; (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        super::daemon::run_cli(&self.config_path, &self.data_dir, args)
    }
}

impl Drop for MilterDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
