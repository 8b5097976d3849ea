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
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::client::{Client, ClientIo, ReplyMode};
use crate::reply::Reply;
use crate::resp::{Limits, Parser};
use crate::server::{now_ms, Shared};

const READ_CHUNK: usize = 16 * 1024;
/// Commands run per lock acquisition before other clients get a turn.
const MAX_BATCH: usize = 1024;
/// Cold records read off the lock per round: the values wait in memory
/// until their commands run, so a long pipeline of cold reads goes in
/// rounds of this many.
const MAX_COLD_READS: usize = 64;

pub(crate) fn is_local(peer: &SocketAddr) -> bool {
    crate::cmd::connection::is_local_peer(peer)
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
            Ok((io, ConnLimits::of(&st, authenticated)))
        }
    };
    let (io, mut conn_limits) = match admitted {
        Ok(v) => v,
        Err(msg) => {
            let _ = wr.write_all(msg.as_bytes()).await;
            return;
        }
    };

    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut parser = Parser::new();
    let mut batch: VecDeque<Vec<Bytes>> = VecDeque::new();
    let mut protocol_error: Option<String> = None;
    // Unparsed bytes remain after a batch (see the parse loop).
    let mut parse_more = false;
    // The command at the front of the batch had its cold keys read off
    // the lock already (read them once, then run it whatever happens).
    let mut warmed_front = false;
    // The first round's values while a second round reads the keys a
    // SORT's patterns name for the elements of a source that was cold:
    // the batch runs on both, stashed together.
    let mut first_round: Option<crate::tier::ColdValues> = None;
    // Cold values read off the lock for the batch about to run.
    let mut cold_values: Option<crate::tier::ColdValues> = None;
    // Commands the last round of cold reads covered: run at most these
    // before reading the next round.
    let mut run_limit = MAX_BATCH;

    'conn: loop {
        // A busy script holds the state lock: wait or answer -BUSY without it.
        if !crate::scripting::busy_gate(&shared.script, &mut rd, &mut wr, &mut buf, &mut parser)
            .await
        {
            break;
        }
        // Parse everything that has arrived.
        // (After a round of cold reads the batch runs first: anything
        // that arrived meanwhile is parsed on the next turn.)
        if protocol_error.is_none() && !warmed_front {
            if conn_limits.generation != crate::config::generation() {
                let st = shared.state.lock();
                conn_limits = ConnLimits::of(&st, conn_limits.authenticated);
            }
            let limits = Limits {
                max_bulk: conn_limits.max_bulk,
                authenticated: conn_limits.authenticated,
            };
            // Before AUTH, parse one command at a time: a successful AUTH
            // lifts the limits for the commands after it (as in Redis).
            parse_more = false;
            loop {
                match parser.next(&mut buf, limits) {
                    Ok(Some(args)) if !limits.authenticated => {
                        batch.push_back(args);
                        parse_more = !buf.is_empty();
                        break;
                    }
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
            let mut wait = Wait::No;
            let mut tickets = Vec::new();
            let mut cold_reads = None;
            let closing = {
                let mut st = shared.state.lock();
                let Some(mut client) = st.clients.remove(&id) else {
                    break 'conn;
                };
                reply.resp3 = client.resp3;
                client.query_buf = buf.len();
                let mut ran = 0;
                if !warmed_front && st.tier.store.is_some() {
                    // Cold keys of this batch: read and decode them off
                    // the lock first (one round for the whole batch), so
                    // neither the disk nor decompression stalls other
                    // clients.
                    let mut covered = MAX_BATCH;
                    for (n, args) in batch.iter().take(MAX_BATCH).enumerate() {
                        if tickets.len() >= MAX_COLD_READS {
                            covered = n;
                            break;
                        }
                        crate::tier::command_tickets(&mut st, &client, args, &mut tickets);
                    }
                    cold_reads = crate::tier::cold_reads(&st, &mut tickets);
                    if cold_reads.is_some() {
                        run_limit = covered;
                    }
                }
                warmed_front = false;
                if let Some(v) = cold_values.take() {
                    match first_round.take() {
                        Some(mut first) => {
                            first.extend(v);
                            cold_values = Some(first);
                        }
                        None => {
                            // A SORT whose source was among the values
                            // just read may name more cold keys by its
                            // patterns: one more round reads those, off
                            // the lock too.
                            let mut more = Vec::new();
                            for args in batch.iter().take(run_limit) {
                                crate::tier::sort_tickets(&st, &client, args, &v, &mut more);
                            }
                            cold_reads = crate::tier::cold_reads(&st, &mut more);
                            if cold_reads.is_some() {
                                first_round = Some(v);
                            } else {
                                cold_values = Some(v);
                            }
                        }
                    }
                }
                let stashed = cold_values.is_some();
                if let Some(v) = cold_values.take() {
                    crate::tier::stash(&mut st, v);
                }
                while let Some(args) = batch.front() {
                    if cold_reads.is_some() {
                        break;
                    }
                    let now = now_ms();
                    if st.pause.is_some()
                        && crate::blocking::must_postpone(&mut st, &client, args, now)
                    {
                        // CLIENT PAUSE: this command (and all after it)
                        // waits for the pause to end.
                        st.blocking.postponed.insert(id);
                        wait = Wait::Paused;
                        break;
                    }
                    let Some(args) = batch.pop_front() else { break };
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
                    if client.blocked.is_some() {
                        // Blocked on keys: the rest of the pipeline waits.
                        wait = Wait::Blocked;
                        break;
                    }
                    if client.close_after_reply || io.is_killed() || ran >= run_limit {
                        break;
                    }
                }
                // The protocol error goes after every command before it.
                if stashed {
                    crate::tier::clear_stash(&mut st);
                }
                crate::tier::drop_transients(&mut st);
                if cold_reads.is_none() {
                    run_limit = MAX_BATCH;
                }
                if batch.is_empty() && wait == Wait::No && cold_reads.is_none() {
                    if let Some(msg) = protocol_error.take().filter(|_| !client.close_after_reply) {
                        reply.error(&format!("ERR {msg}"));
                        st.stats.count_errors(reply.take_errors());
                        client.close_after_reply = true;
                    }
                }
                let closing = client.close_after_reply;
                conn_limits = ConnLimits::of(&st, client.authenticated);
                st.clients.insert(id, client);
                // Write the batch's AOF records; replies wait for the ticket.
                (closing, crate::aof::batch_end(&mut st))
            };
            let (closing, ticket) = closing;
            if let Some(t) = ticket {
                if !crate::aof::complete(&shared.aof, t, &io).await {
                    break;
                }
            }
            let queued = io.take();
            if !queued.is_empty() && !send(&mut wr, &queued, &io).await {
                break;
            }
            if !reply.is_empty() && !send(&mut wr, &reply.buf, &io).await {
                break;
            }
            if closing || io.is_killed() {
                break;
            }
            if let Some(reads) = cold_reads {
                cold_values = if reads.in_task {
                    Some(reads.run())
                } else {
                    reads.run_blocking().await
                };
                warmed_front = true;
                continue;
            }
            if wait != Wait::No {
                if !wait_until_released(&shared, id, &io, &mut rd, &mut wr, &mut buf, wait).await {
                    break;
                }
                continue;
            }
            if !batch.is_empty() || parse_more {
                // Let other clients run between long pipelines.
                tokio::task::yield_now().await;
                continue;
            }
        }

        // Query buffer limit: data buffered but not yet a whole command.
        if (buf.len() + parser.pending_bytes()) as i64 > conn_limits.query_buffer {
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
                if !queued.is_empty() && !crate::aof::before_outbox(&shared, &io).await {
                    break;
                }
                if !queued.is_empty() && !send(&mut wr, &queued, &io).await {
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
    crate::blocking::client_gone(&mut st, id);
    st.monitors.retain(|m| *m != id);
    st.connected = st.connected.saturating_sub(1);
}

/// The limits a connection applies to what it reads, copied from the
/// state at the end of each batch and whenever an option changed (so
/// reading and parsing need no lock).
#[derive(Clone, Copy)]
struct ConnLimits {
    max_bulk: i64,
    authenticated: bool,
    query_buffer: i64,
    /// `config::generation()` when read.
    generation: u64,
}

impl ConnLimits {
    fn of(st: &crate::server::State, authenticated: bool) -> ConnLimits {
        ConnLimits {
            generation: crate::config::generation(),
            max_bulk: st.config.hot.proto_max_bulk_len,
            authenticated,
            query_buffer: st.config.hot.client_query_buffer_limit,
        }
    }
}

/// Writes `data`, giving up if the client is killed meanwhile (a client
/// that never reads must not pin its task and memory forever). Returns
/// false when the connection must close.
async fn send(wr: &mut OwnedWriteHalf, data: &[u8], io: &ClientIo) -> bool {
    if io.is_killed() {
        return false;
    }
    // The socket usually takes the whole reply at once: no timer needed.
    let data = match wr.try_write(data) {
        Ok(n) if n == data.len() => return true,
        Ok(n) => &data[n..],
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => data,
        Err(_) => return false,
    };
    let killed = async {
        loop {
            if io.is_killed() {
                return;
            }
            // Poll for a kill; a notify could be consumed by the main loop.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        r = wr.write_all(data) => r.is_ok(),
        _ = killed => false,
    }
}

/// Why a connection stopped running its pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    No,
    /// Blocked on keys (BLPOP...) until served, timed out or unblocked.
    Blocked,
    /// Held by CLIENT PAUSE.
    Paused,
}

/// A tokio instant for a unix-ms deadline.
fn instant_at(deadline_ms: i64) -> tokio::time::Instant {
    let wait = deadline_ms
        .saturating_sub(now_ms())
        .clamp(0, 100 * 365 * 86_400_000);
    tokio::time::Instant::now() + std::time::Duration::from_millis(wait as u64)
}

/// Waits while the client is blocked or paused, writing anything other
/// clients send it (the blocked command's reply included) and reading the
/// socket so a disconnect is noticed (bytes read are kept for later).
/// Returns false when the connection must close.
async fn wait_until_released(
    shared: &Arc<Shared>,
    id: u64,
    io: &Arc<ClientIo>,
    rd: &mut OwnedReadHalf,
    wr: &mut OwnedWriteHalf,
    buf: &mut BytesMut,
    wait: Wait,
) -> bool {
    loop {
        let (deadline, limit) = {
            let mut st = shared.state.lock();
            let limit = st.config.hot.client_query_buffer_limit;
            let deadline = match wait {
                Wait::Blocked => match st.clients.get(&id) {
                    Some(c) => match &c.blocked {
                        Some(b) => b.deadline,
                        None => return true,
                    },
                    None => return false,
                },
                _ => match crate::blocking::paused(&mut st, now_ms()) {
                    Some(p) => Some(p.end_ms),
                    None => {
                        st.blocking.postponed.remove(&id);
                        return true;
                    }
                },
            };
            (deadline, limit)
        };
        if buf.len() as i64 > limit {
            crate::log::warning("Closing blocked client that reached max query buffer length");
            return false;
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let timer = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(instant_at(d)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            biased;
            _ = io.wake.notified() => {
                let queued = io.take();
                if !queued.is_empty() && !crate::aof::before_outbox(shared, io).await {
                    return false;
                }
                if !queued.is_empty() && !send(wr, &queued, io).await {
                    return false;
                }
                if io.is_killed() {
                    return false;
                }
            }
            _ = timer => {
                if wait == Wait::Blocked {
                    let out = {
                        let mut st = shared.state.lock();
                        crate::blocking::expire_client(&mut st, id, now_ms())
                    };
                    if let Some(bytes) = out {
                        if !bytes.is_empty() && !send(wr, &bytes, io).await {
                            return false;
                        }
                    }
                }
            }
            n = rd.read_buf(buf) => {
                match n {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                }
            }
        }
    }
}

pub(crate) const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
