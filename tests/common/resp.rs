//! A minimal Redis client (RESP2) for the topology tests: enough to send a
//! command and read its reply, with timeouts so a broken server fails the
//! test instead of hanging it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: status, bulk string or integer.
    pub fn text(&self) -> Option<String> {
        match self {
            Reply::Status(text) | Reply::Bulk(Some(text)) => Some(text.clone()),
            Reply::Integer(value) => Some(value.to_string()),
            _ => None,
        }
    }

    pub fn items(&self) -> Vec<Reply> {
        match self {
            Reply::Array(Some(items)) => items.clone(),
            _ => Vec::new(),
        }
    }
}

pub struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    pub fn open(ip: IpAddr, port: u16) -> io::Result<Connection> {
        let stream =
            TcpStream::connect_timeout(&SocketAddr::new(ip, port), Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Opens a connection and authenticates with `password`.
    pub fn authenticated(ip: IpAddr, port: u16, password: &str) -> io::Result<Connection> {
        let mut connection = Connection::open(ip, port)?;
        match connection.call(&["AUTH", password])? {
            Reply::Status(_) => Ok(connection),
            other => Err(io::Error::other(format!("AUTH failed: {other:?}"))),
        }
    }

    pub fn call(&mut self, args: &[&str]) -> io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&request)?;
        self.read_reply()
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(line.trim_end_matches("\r\n").to_owned())
    }

    fn read_reply(&mut self) -> io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1.min(line.len()));
        let number = || {
            rest.parse::<i64>()
                .map_err(|_| io::Error::other(format!("bad reply line {line:?}")))
        };
        Ok(match kind {
            "+" => Reply::Status(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(number()?),
            "$" => match number()? {
                -1 => Reply::Bulk(None),
                length => {
                    let mut buffer = vec![0; length as usize + 2];
                    io::Read::read_exact(&mut self.reader, &mut buffer)?;
                    buffer.truncate(length as usize);
                    Reply::Bulk(Some(String::from_utf8_lossy(&buffer).into_owned()))
                }
            },
            "*" => match number()? {
                -1 => Reply::Array(None),
                count => Reply::Array(Some(
                    (0..count)
                        .map(|_| self.read_reply())
                        .collect::<io::Result<_>>()?,
                )),
            },
            _ => return Err(io::Error::other(format!("bad reply line {line:?}"))),
        })
    }
}

/// `field:value` lines of an INFO or CLUSTER INFO reply.
pub fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines().find_map(|line| {
        line.trim_end()
            .strip_prefix(&format!("{field}:"))
            .map(str::to_owned)
    })
}
