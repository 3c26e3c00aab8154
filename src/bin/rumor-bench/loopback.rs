//! The machine's own limits: plain loopback TCP moving the same messages,
//! and the message batches both it and the nodes are fed.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::SMALL;

/// `count` lines of `len` payload bytes each, made of `chunk` repeated.
pub fn message_chunk(len: usize) -> Vec<u8> {
    let per = (64 * 1024 / (len + 1)).max(1);
    let mut chunk = Vec::with_capacity(per * (len + 1));
    for i in 0..per {
        let head = format!("m{i:07} ");
        let mut line = head.into_bytes();
        line.resize(len, b'x');
        chunk.extend_from_slice(&line);
        chunk.push(b'\n');
    }
    chunk
}

/// Writes `count` lines from `chunk` (repeated) to `w`.
pub fn write_lines(w: &mut impl Write, chunk: &[u8], len: usize, count: usize) -> io::Result<()> {
    let per = chunk.len() / (len + 1);
    let mut left = count;
    while left > 0 {
        let k = left.min(per);
        w.write_all(&chunk[..k * (len + 1)])?;
        left -= k;
    }
    w.flush()
}

/// Plain loopback TCP: one thread writes `count` newline-ended messages in
/// 64 KiB batches, another reads them. Returns messages per second.
pub fn loopback_throughput(len: usize, count: usize) -> io::Result<f64> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let addr = l.local_addr()?;
    let total = count * (len + 1);
    let rx = thread::spawn(move || -> io::Result<Instant> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < total {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
            got += n;
        }
        Ok(Instant::now())
    });
    let chunk = message_chunk(len);
    let mut s = TcpStream::connect(addr)?;
    let t0 = Instant::now();
    write_lines(&mut s, &chunk, len, count)?;
    let t1 = rx
        .join()
        .map_err(|_| io::Error::other("reader panicked"))??;
    Ok(count as f64 / (t1 - t0).as_secs_f64())
}

/// Plain loopback TCP one-way latency between two threads of this process:
/// one writes a message, the other reads it whole. Returns microseconds.
pub fn loopback_latency(samples: usize) -> io::Result<Vec<f64>> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut s = TcpStream::connect(l.local_addr()?)?;
    s.set_nodelay(true)?;
    let (mut r, _) = l.accept()?;
    r.set_read_timeout(Some(Duration::from_secs(5)))?;
    let (tx, done) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; SMALL + 1];
        for _ in 0..samples {
            if r.read_exact(&mut buf).is_err() {
                break;
            }
            if tx.send(Instant::now()).is_err() {
                break;
            }
        }
    });
    let msg = message_chunk(SMALL);
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t0 = Instant::now();
        s.write_all(&msg[..SMALL + 1])?;
        let t1 = done
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| io::Error::other("loopback latency timed out"))?;
        out.push((t1 - t0).as_secs_f64() * 1e6);
    }
    let _ = reader.join();
    Ok(out)
}
