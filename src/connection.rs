//! One task per connection: read, parse, run a batch, write.
//!
//! Pipelining: everything that arrived in one read is parsed first, then
//! the whole batch runs under one acquisition of the state lock, and all
//! replies go out in one write. Replies are in request order.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::{Client, ReplyMode};
use crate::reply::Reply;
use crate::resp::{Limits, Parser};
use crate::server::{now_ms, Shared};

const READ_CHUNK: usize = 16 * 1024;
/// Commands run per lock acquisition before other clients get a turn.
const MAX_BATCH: usize = 1024;

fn is_local(peer: &SocketAddr) -> bool {
    peer.ip().is_loopback()
}

/// Serves one client until it quits, is killed, or the server stops.
pub async fn serve(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, id: u64) {
    let _ = socket.set_nodelay(true);
    let laddr = socket
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (mut rd, mut wr) = socket.into_split();
    let now = now_ms();
    let admitted = {
        let mut st = shared.state.lock();
        st.stats.total_connections_received += 1;
        if st.connected as i64 >= st.config.hot.maxclients {
            st.stats.rejected_connections += 1;
            Err("-ERR max number of clients reached\r\n")
        } else if st.config.hot.protected_mode
            && st.config.hot.requirepass.is_none()
            && !is_local(&peer)
        {
            Err(PROTECTED_MODE_ERROR)
        } else {
            let authenticated = st.config.hot.requirepass.is_none();
            let client = Client::new(id, peer.to_string(), laddr, now, authenticated);
            let io = client.io.clone();
            st.clients.insert(id, client);
            st.connected += 1;
            Ok(io)
        }
    };
    let io = match admitted {
        Ok(io) => io,
        Err(msg) => {
            let _ = wr.write_all(msg.as_bytes()).await;
            return;
        }
    };

    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::new();
    let mut batch: VecDeque<Vec<Bytes>> = VecDeque::new();
    let mut protocol_error: Option<String> = None;

    'conn: loop {
        // A busy script holds the state lock: wait or answer -BUSY without it.
        if !crate::scripting::busy_gate(&shared.script, &mut rd, &mut wr, &mut buf, &mut parser)
            .await
        {
            break;
        }
        // Parse everything that has arrived.
        if protocol_error.is_none() {
            let limits = {
                let st = shared.state.lock();
                let authenticated = st.clients.get(&id).map(|c| c.authenticated).unwrap_or(true);
                Limits {
                    max_bulk: st.config.hot.proto_max_bulk_len,
                    authenticated,
                }
            };
            loop {
                match parser.next(&mut buf, limits) {
                    Ok(Some(args)) => batch.push_back(args),
                    Ok(None) => break,
                    Err(e) => {
                        protocol_error = Some(e.0);
                        break;
                    }
                }
            }
        }

        if !batch.is_empty() || protocol_error.is_some() {
            let mut reply = Reply::new(false);
            let closing = {
                let mut st = shared.state.lock();
                let Some(mut client) = st.clients.remove(&id) else {
                    break 'conn;
                };
                reply.resp3 = client.resp3;
                client.query_buf = buf.len();
                let mut ran = 0;
                while let Some(args) = batch.pop_front() {
                    let now = now_ms();
                    client.last_interaction_ms = now;
                    let mark = reply.len();
                    crate::command::dispatch(&mut st, &mut client, &mut reply, &args, now);
                    match client.reply_mode {
                        ReplyMode::On => {}
                        ReplyMode::Off => reply.truncate(mark),
                        ReplyMode::Skip => {
                            reply.truncate(mark);
                            client.reply_mode = ReplyMode::On;
                        }
                        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skip,
                    }
                    reply.resp3 = client.resp3;
                    io.resp3
                        .store(client.resp3, std::sync::atomic::Ordering::Relaxed);
                    ran += 1;
                    if client.close_after_reply || io.is_killed() || ran >= MAX_BATCH {
                        break;
                    }
                }
                if let Some(msg) = protocol_error.take().filter(|_| !client.close_after_reply) {
                    reply.error(&format!("ERR {msg}"));
                    st.stats.count_errors(reply.take_errors());
                    client.close_after_reply = true;
                }
                let closing = client.close_after_reply;
                st.clients.insert(id, client);
                closing
            };
            let queued = io.take();
            if !queued.is_empty() && wr.write_all(&queued).await.is_err() {
                break;
            }
            if !reply.is_empty() && wr.write_all(&reply.buf).await.is_err() {
                break;
            }
            if closing || io.is_killed() {
                break;
            }
            if !batch.is_empty() {
                // Let other clients run between long pipelines.
                tokio::task::yield_now().await;
                continue;
            }
        }

        // Query buffer limit: data buffered but not yet a whole command.
        let limit = shared.state.lock().config.hot.client_query_buffer_limit;
        if (buf.len() + parser.pending_bytes()) as i64 > limit {
            crate::log::warning(&format!(
                "Closing client {peer} that reached max query buffer length"
            ));
            break;
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            _ = io.wake.notified() => {
                let queued = io.take();
                if !queued.is_empty() && wr.write_all(&queued).await.is_err() {
                    break;
                }
                if io.is_killed() {
                    break;
                }
            }
            n = rd.read_buf(&mut buf) => {
                match n {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }

    let _ = wr.shutdown().await;
    let mut st = shared.state.lock();
    if let Some(mut client) = st.clients.remove(&id) {
        st.forget_client(&mut client);
    }
    st.monitors.retain(|m| *m != id);
    st.connected = st.connected.saturating_sub(1);
}

const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
