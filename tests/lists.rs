//! List commands against a model (a `VecDeque`), through the `redis`
//! client: random sequences of pushes, pops, trims, inserts and removals
//! must leave the same list, and big lists behave.

mod common;

use std::collections::VecDeque;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn range(model: &VecDeque<String>, start: i64, stop: i64) -> Vec<String> {
    let len = model.len() as i64;
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if stop < 0 { len + stop } else { stop };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return Vec::new();
    }
    if e >= len {
        e = len - 1;
    }
    model
        .iter()
        .skip(s as usize)
        .take((e - s + 1) as usize)
        .cloned()
        .collect()
}

#[test]
fn random_operations_match_a_model() -> redis::RedisResult<()> {
    let server = common::TestServer::start(&[]);
    let mut c = server.client().get_connection()?;
    let mut rng = SmallRng::seed_from_u64(7);
    let mut model: VecDeque<String> = VecDeque::new();
    for step in 0..3000 {
        let v = format!("v{}", rng.random_range(0..8));
        match rng.random_range(0..9) {
            0 => {
                let n: i64 = redis::cmd("LPUSH").arg("l").arg(&v).query(&mut c)?;
                model.push_front(v);
                assert_eq!(n as usize, model.len());
            }
            1 => {
                let n: i64 = redis::cmd("RPUSH")
                    .arg("l")
                    .arg(&v)
                    .arg("x")
                    .query(&mut c)?;
                model.push_back(v);
                model.push_back("x".into());
                assert_eq!(n as usize, model.len());
            }
            2 => {
                let got: Option<String> = redis::cmd("LPOP").arg("l").query(&mut c)?;
                assert_eq!(got, model.pop_front());
            }
            3 => {
                let n = rng.random_range(0..4usize);
                let got: Option<Vec<String>> = redis::cmd("RPOP").arg("l").arg(n).query(&mut c)?;
                if model.is_empty() {
                    assert_eq!(got, None);
                } else {
                    let want: Vec<String> = (0..n).filter_map(|_| model.pop_back()).collect();
                    assert_eq!(got, Some(want));
                }
            }
            4 => {
                let count = rng.random_range(-2..3i64);
                let n: i64 = redis::cmd("LREM")
                    .arg("l")
                    .arg(count)
                    .arg(&v)
                    .query(&mut c)?;
                let mut removed = 0;
                let limit = if count == 0 {
                    usize::MAX
                } else {
                    count.unsigned_abs() as usize
                };
                if count >= 0 {
                    let mut i = 0;
                    while i < model.len() && removed < limit {
                        if model[i] == v {
                            model.remove(i);
                            removed += 1;
                        } else {
                            i += 1;
                        }
                    }
                } else {
                    let mut i = model.len();
                    while i > 0 && removed < limit {
                        i -= 1;
                        if model[i] == v {
                            model.remove(i);
                            removed += 1;
                        }
                    }
                }
                assert_eq!(n as usize, removed);
            }
            5 => {
                let s = rng.random_range(-5..5i64);
                let e = rng.random_range(-5..40i64);
                let _: () = redis::cmd("LTRIM").arg("l").arg(s).arg(e).query(&mut c)?;
                model = range(&model, s, e).into_iter().collect();
            }
            6 => {
                let pivot = format!("v{}", rng.random_range(0..8));
                let after = rng.random_bool(0.5);
                let n: i64 = redis::cmd("LINSERT")
                    .arg("l")
                    .arg(if after { "AFTER" } else { "BEFORE" })
                    .arg(&pivot)
                    .arg(&v)
                    .query(&mut c)?;
                match model.iter().position(|x| *x == pivot) {
                    Some(i) => {
                        model.insert(if after { i + 1 } else { i }, v);
                        assert_eq!(n as usize, model.len());
                    }
                    None => assert_eq!(n, if model.is_empty() { 0 } else { -1 }),
                }
            }
            7 => {
                let i = rng.random_range(-6..6i64);
                let got: Option<String> = redis::cmd("LINDEX").arg("l").arg(i).query(&mut c)?;
                let idx = if i < 0 { model.len() as i64 + i } else { i };
                let want = if idx >= 0 {
                    model.get(idx as usize).cloned()
                } else {
                    None
                };
                assert_eq!(got, want);
            }
            _ => {
                let got: Option<i64> = redis::cmd("LPOS").arg("l").arg(&v).query(&mut c)?;
                let want = model.iter().position(|x| *x == v).map(|i| i as i64);
                assert_eq!(got, want, "step {step}");
            }
        }
        let all: Vec<String> = redis::cmd("LRANGE").arg("l").arg(0).arg(-1).query(&mut c)?;
        assert_eq!(all, Vec::from(model.clone()), "step {step}");
        let exists: i64 = redis::cmd("EXISTS").arg("l").query(&mut c)?;
        assert_eq!(exists == 1, !model.is_empty(), "empty lists are deleted");
    }
    Ok(())
}

#[test]
fn big_lists() -> redis::RedisResult<()> {
    let server = common::TestServer::start(&[]);
    let mut c = server.client().get_connection()?;
    let items: Vec<String> = (0..10_000).map(|i| format!("item:{i}")).collect();
    let n: i64 = redis::cmd("RPUSH").arg("big").arg(&items).query(&mut c)?;
    assert_eq!(n, 10_000);
    let mid: String = redis::cmd("LINDEX").arg("big").arg(5000).query(&mut c)?;
    assert_eq!(mid, "item:5000");
    let tail: Vec<String> = redis::cmd("LRANGE")
        .arg("big")
        .arg(-3)
        .arg(-1)
        .query(&mut c)?;
    assert_eq!(tail, ["item:9997", "item:9998", "item:9999"]);
    let popped: Vec<String> = redis::cmd("LPOP").arg("big").arg(9_999).query(&mut c)?;
    assert_eq!(popped.len(), 9_999);
    let left: Vec<String> = redis::cmd("LMPOP")
        .arg(1)
        .arg("big")
        .arg("RIGHT")
        .arg("COUNT")
        .arg(5)
        .query::<(String, Vec<String>)>(&mut c)
        .map(|(_, v)| v)?;
    assert_eq!(left, ["item:9999"]);
    let exists: i64 = redis::cmd("EXISTS").arg("big").query(&mut c)?;
    assert_eq!(exists, 0);
    Ok(())
}
