//! Pub/sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBE
//! forms, PUBLISH, SPUBLISH and PUBSUB introspection.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use crate::command::{CommandSpec, Ctx, Flags, Keys};
use crate::error::CmdResult;
use crate::pubsub::{ChannelKind, Subscriber};

fn me(ctx: &Ctx) -> Subscriber {
    ctx.client
        .io
        .resp3
        .store(ctx.client.resp3, Ordering::Relaxed);
    Subscriber {
        id: ctx.client.id,
        io: ctx.client.io.clone(),
    }
}

/// Writes one `[kind, channel, count]` confirmation as a push.
fn confirm(ctx: &mut Ctx, kind: &str, channel: Option<&[u8]>, count: usize) {
    ctx.reply.push(3);
    ctx.reply.bulk(kind.as_bytes());
    match channel {
        Some(c) => ctx.reply.bulk(c),
        None => ctx.reply.null(),
    }
    ctx.reply.int(count as i64);
}

/// SUBSCRIBE channel [channel ...]
fn subscribe(ctx: &mut Ctx) -> CmdResult {
    subscribe_kind(ctx, ChannelKind::Classic)
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
fn ssubscribe(ctx: &mut Ctx) -> CmdResult {
    subscribe_kind(ctx, ChannelKind::Shard)
}

fn subscribe_kind(ctx: &mut Ctx, kind: ChannelKind) -> CmdResult {
    let sub = me(ctx);
    for i in 1..ctx.args.len() {
        let ch = ctx.args[i].clone();
        if ctx.state.pubsub.subscribe(kind, &ch, sub.clone()) {
            match kind {
                ChannelKind::Classic => ctx.client.subscriptions.insert(ch.clone()),
                ChannelKind::Shard => ctx.client.shard_subscriptions.insert(ch.clone()),
            };
        }
        let (word, count) = match kind {
            ChannelKind::Classic => ("subscribe", ctx.client.subscription_count()),
            ChannelKind::Shard => ("ssubscribe", ctx.client.shard_subscriptions.len()),
        };
        confirm(ctx, word, Some(&ch), count);
    }
    Ok(())
}

/// PSUBSCRIBE pattern [pattern ...]
fn psubscribe(ctx: &mut Ctx) -> CmdResult {
    let sub = me(ctx);
    for i in 1..ctx.args.len() {
        let p = ctx.args[i].clone();
        if ctx.state.pubsub.psubscribe(&p, sub.clone()) {
            ctx.client.pattern_subscriptions.insert(p.clone());
        }
        let count = ctx.client.subscription_count();
        confirm(ctx, "psubscribe", Some(&p), count);
    }
    Ok(())
}

/// UNSUBSCRIBE [channel [channel ...]]
fn unsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsubscribe_kind(ctx, ChannelKind::Classic)
}

/// SUNSUBSCRIBE [shardchannel [shardchannel ...]]
fn sunsubscribe(ctx: &mut Ctx) -> CmdResult {
    unsubscribe_kind(ctx, ChannelKind::Shard)
}

fn unsubscribe_kind(ctx: &mut Ctx, kind: ChannelKind) -> CmdResult {
    let word = match kind {
        ChannelKind::Classic => "unsubscribe",
        ChannelKind::Shard => "sunsubscribe",
    };
    let targets: Vec<Bytes> = if ctx.args.len() > 1 {
        ctx.args[1..].to_vec()
    } else {
        let set = match kind {
            ChannelKind::Classic => &ctx.client.subscriptions,
            ChannelKind::Shard => &ctx.client.shard_subscriptions,
        };
        set.iter().cloned().collect()
    };
    if targets.is_empty() {
        let count = match kind {
            ChannelKind::Classic => ctx.client.subscription_count(),
            ChannelKind::Shard => ctx.client.shard_subscriptions.len(),
        };
        confirm(ctx, word, None, count);
        return Ok(());
    }
    let id = ctx.client.id;
    for ch in targets {
        ctx.state.pubsub.unsubscribe(kind, &ch, id);
        let count = match kind {
            ChannelKind::Classic => {
                ctx.client.subscriptions.remove(&ch);
                ctx.client.subscription_count()
            }
            ChannelKind::Shard => {
                ctx.client.shard_subscriptions.remove(&ch);
                ctx.client.shard_subscriptions.len()
            }
        };
        confirm(ctx, word, Some(&ch), count);
    }
    Ok(())
}

/// PUNSUBSCRIBE [pattern [pattern ...]]
fn punsubscribe(ctx: &mut Ctx) -> CmdResult {
    let targets: Vec<Bytes> = if ctx.args.len() > 1 {
        ctx.args[1..].to_vec()
    } else {
        ctx.client.pattern_subscriptions.iter().cloned().collect()
    };
    if targets.is_empty() {
        let count = ctx.client.subscription_count();
        confirm(ctx, "punsubscribe", None, count);
        return Ok(());
    }
    let id = ctx.client.id;
    for p in targets {
        ctx.state.pubsub.punsubscribe(&p, id);
        ctx.client.pattern_subscriptions.remove(&p);
        let count = ctx.client.subscription_count();
        confirm(ctx, "punsubscribe", Some(&p), count);
    }
    Ok(())
}

/// PUBLISH channel message
fn publish(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.state.pubsub.publish(
        ChannelKind::Classic,
        ctx.args[1].as_ref(),
        ctx.args[2].as_ref(),
        ctx.now_ms,
    );
    ctx.reply.int(n as i64);
    Ok(())
}

/// SPUBLISH shardchannel message
fn spublish(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.state.pubsub.publish(
        ChannelKind::Shard,
        ctx.args[1].as_ref(),
        ctx.args[2].as_ref(),
        ctx.now_ms,
    );
    ctx.reply.int(n as i64);
    Ok(())
}

fn list_channels(ctx: &mut Ctx, kind: ChannelKind) -> CmdResult {
    let pattern = ctx.args.get(2).cloned();
    let map = match kind {
        ChannelKind::Classic => &ctx.state.pubsub.channels,
        ChannelKind::Shard => &ctx.state.pubsub.shard_channels,
    };
    let names: Vec<Bytes> = map
        .keys()
        .filter(|c| {
            pattern
                .as_ref()
                .is_none_or(|p| strata_storage::glob::glob_match(p, c, false))
        })
        .cloned()
        .collect();
    ctx.reply.array(names.len());
    for n in names {
        ctx.reply.bulk(&n);
    }
    Ok(())
}

/// PUBSUB CHANNELS [pattern]
fn pubsub_channels(ctx: &mut Ctx) -> CmdResult {
    list_channels(ctx, ChannelKind::Classic)
}

/// PUBSUB SHARDCHANNELS [pattern]
fn pubsub_shardchannels(ctx: &mut Ctx) -> CmdResult {
    list_channels(ctx, ChannelKind::Shard)
}

fn numsub(ctx: &mut Ctx, kind: ChannelKind) -> CmdResult {
    let n = ctx.args.len() - 2;
    ctx.reply.map(n);
    for i in 2..ctx.args.len() {
        let ch = ctx.args[i].clone();
        let map = match kind {
            ChannelKind::Classic => &ctx.state.pubsub.channels,
            ChannelKind::Shard => &ctx.state.pubsub.shard_channels,
        };
        let count = map.get(&ch).map(|l| l.len()).unwrap_or(0);
        ctx.reply.bulk(&ch);
        ctx.reply.int(count as i64);
    }
    Ok(())
}

/// PUBSUB NUMSUB [channel ...]
fn pubsub_numsub(ctx: &mut Ctx) -> CmdResult {
    numsub(ctx, ChannelKind::Classic)
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
fn pubsub_shardnumsub(ctx: &mut Ctx) -> CmdResult {
    numsub(ctx, ChannelKind::Shard)
}

/// PUBSUB NUMPAT
fn pubsub_numpat(ctx: &mut Ctx) -> CmdResult {
    let n = ctx.state.pubsub.patterns.len();
    ctx.reply.int(n as i64);
    Ok(())
}

/// PUBSUB HELP
fn pubsub_help(ctx: &mut Ctx) -> CmdResult {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    ctx.reply.array(lines.len());
    for l in lines {
        ctx.reply.simple(l);
    }
    Ok(())
}

fn pubsub_container(ctx: &mut Ctx) -> CmdResult {
    pubsub_help(ctx)
}

const PS: Flags = Flags::PUBSUB
    .or(Flags::NOSCRIPT)
    .or(Flags::LOADING)
    .or(Flags::STALE);
const PSI: Flags = Flags::PUBSUB.or(Flags::LOADING).or(Flags::STALE);

/// Shard channel commands take the channel as their key.
fn shard_channels(args: &[Bytes]) -> Vec<usize> {
    (1..args.len()).collect()
}

static PUBSUB_SUBS: &[CommandSpec] = &[
    CommandSpec::new("pubsub|channels", -2, PSI, Keys::None, pubsub_channels).doc(
        "pubsub",
        "2.8.0",
        "Returns the active channels.",
    ),
    CommandSpec::new("pubsub|numsub", -2, PSI, Keys::None, pubsub_numsub).doc(
        "pubsub",
        "2.8.0",
        "Returns a count of subscribers to channels.",
    ),
    CommandSpec::new("pubsub|numpat", 2, PSI, Keys::None, pubsub_numpat).doc(
        "pubsub",
        "2.8.0",
        "Returns a count of unique pattern subscriptions.",
    ),
    CommandSpec::new(
        "pubsub|shardchannels",
        -2,
        PSI,
        Keys::None,
        pubsub_shardchannels,
    )
    .doc("pubsub", "7.0.0", "Returns the active shard channels."),
    CommandSpec::new(
        "pubsub|shardnumsub",
        -2,
        PSI,
        Keys::None,
        pubsub_shardnumsub,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Returns the count of subscribers of shard channels.",
    ),
    CommandSpec::new("pubsub|help", 2, PSI, Keys::None, pubsub_help).doc(
        "pubsub",
        "6.2.0",
        "Returns helpful text about the different subcommands.",
    ),
];

pub static TABLE: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, PS, Keys::None, subscribe).doc(
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels.",
    ),
    CommandSpec::new("unsubscribe", -1, PS, Keys::None, unsubscribe).doc(
        "pubsub",
        "2.0.0",
        "Stops listening to messages posted to channels.",
    ),
    CommandSpec::new("psubscribe", -2, PS, Keys::None, psubscribe).doc(
        "pubsub",
        "2.0.0",
        "Listens for messages published to channels that match one or more patterns.",
    ),
    CommandSpec::new("punsubscribe", -1, PS, Keys::None, punsubscribe).doc(
        "pubsub",
        "2.0.0",
        "Stops listening to messages published to channels that match one or more patterns.",
    ),
    CommandSpec::new(
        "ssubscribe",
        -2,
        PS,
        Keys::Custom {
            legacy: (1, -1, 1),
            find: shard_channels,
        },
        ssubscribe,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Listens for messages published to shard channels.",
    ),
    CommandSpec::new(
        "sunsubscribe",
        -1,
        PS,
        Keys::Custom {
            legacy: (1, -1, 1),
            find: shard_channels,
        },
        sunsubscribe,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Stops listening to messages posted to shard channels.",
    ),
    CommandSpec::new(
        "publish",
        3,
        PSI.or(Flags::FAST).or(Flags::MAY_REPLICATE),
        Keys::None,
        publish,
    )
    .doc("pubsub", "2.0.0", "Posts a message to a channel."),
    CommandSpec::new(
        "spublish",
        3,
        PSI.or(Flags::FAST).or(Flags::MAY_REPLICATE),
        Keys::one(),
        spublish,
    )
    .doc("pubsub", "7.0.0", "Post a message to a shard channel"),
    CommandSpec::new("pubsub", -2, Flags::NONE, Keys::None, pubsub_container)
        .doc("pubsub", "2.8.0", "A container for Pub/Sub commands.")
        .subs(PUBSUB_SUBS),
];
