use super::*;

type T = Plumtree<u32>;

fn id(seq: u32) -> MsgId {
    MsgId { origin: 7, seq }
}

fn addr() -> SocketAddr {
    "127.0.0.1:9000".parse().unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn tree_with(cfg: PlumtreeConfig, peers: &[u32]) -> T {
    let mut t = Plumtree::new(cfg);
    for &p in peers {
        t.neighbor_up(p);
    }
    t
}

fn tree(peers: &[u32]) -> T {
    tree_with(PlumtreeConfig::default(), peers)
}

fn pushes(out: &[Action<u32>]) -> Vec<(u32, MsgId, u8)> {
    out.iter()
        .filter_map(|a| match a {
            Action::Push { to, id, hops, .. } => Some((*to, *id, *hops)),
            _ => None,
        })
        .collect()
}

fn never(_: MsgId) -> bool {
    false
}

#[test]
fn a_fresh_message_is_pushed_to_eager_and_announced_to_lazy_and_a_duplicate_prunes() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2, 3]);
    t.on_prune(3);
    assert_eq!(t.lazy().collect::<Vec<_>>(), [3]);
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 4, b"hi", true, t0, &mut out);
    assert_eq!(pushes(&out), [(2, id(0), 5)]);
    assert_eq!(out.len(), 1);
    // The IHAVE to the lazy peer waits for the batch delay.
    assert_eq!(t.poll_timeout(), Some(t0 + ms(50)));
    out.clear();
    t.handle_timeout(t0 + ms(49), never, &mut out);
    assert!(out.is_empty());
    t.handle_timeout(t0 + ms(50), never, &mut out);
    assert_eq!(
        out,
        [Action::IHave {
            to: 3,
            entries: vec![(id(0), 5)]
        }]
    );
    // A duplicate from an eager neighbor prunes it; from a lazy one, nothing.
    out.clear();
    t.on_gossip(2, id(0), addr(), 6, b"hi", false, t0 + ms(60), &mut out);
    assert_eq!(out, [Action::Prune { to: 2 }]);
    assert_eq!(t.eager().collect::<Vec<_>>(), [1]);
    assert_eq!(t.lazy().collect::<Vec<_>>(), [2, 3]);
    out.clear();
    t.on_gossip(2, id(0), addr(), 6, b"hi", false, t0 + ms(70), &mut out);
    assert!(out.is_empty());
    assert_eq!(t.counters().pruned, 1);
    // The hop count saturates.
    t.on_gossip(1, id(1), addr(), u8::MAX, b"x", true, t0, &mut out);
    assert_eq!(t.payload(id(1)).unwrap().hops, u8::MAX);
}

#[test]
fn the_origin_pushes_to_every_neighbor_with_hops_zero_sharing_one_copy() {
    let mut t = tree(&[1, 2, 3]);
    t.on_prune(2);
    let mut out = Vec::new();
    t.broadcast(id(0), addr(), b"mine", &mut out);
    assert_eq!(pushes(&out), [(1, id(0), 0), (3, id(0), 0), (2, id(0), 0)]);
    let copies: Vec<&Rc<[u8]>> = out
        .iter()
        .map(|a| match a {
            Action::Push { payload, .. } => payload,
            _ => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(&**copies[0], b"mine");
    assert!(copies.iter().all(|c| Rc::ptr_eq(c, copies[0])));
    // Announced to no one, so never grafted from here: not cached, and
    // nothing is due.
    assert!(t.payload(id(0)).is_none());
    assert_eq!(t.poll_timeout(), None);
}

/// A payload from neighbor 1 with lazy neighbor 2 to announce it to: the
/// way a payload is cached.
fn relay(t: &mut T, seq: u32, payload: &[u8], at: Instant, out: &mut Vec<Action<u32>>) {
    t.on_gossip(1, id(seq), addr(), 0, payload, true, at, out);
}

fn relaying(cfg: PlumtreeConfig) -> T {
    let mut t = tree_with(cfg, &[1, 2]);
    t.on_prune(2);
    t
}

#[test]
fn a_payload_announced_to_no_one_is_not_cached() {
    let t0 = Instant::now();
    let mut out = Vec::new();
    // The sender is the only neighbor.
    let mut t = tree(&[1]);
    t.on_gossip(1, id(0), addr(), 0, b"hi", true, t0, &mut out);
    assert!(out.is_empty() && t.payload(id(0)).is_none());
    // An eager neighbor besides: pushed, still not cached.
    let mut t = tree(&[1, 2]);
    t.on_gossip(1, id(0), addr(), 0, b"hi", true, t0, &mut out);
    assert_eq!(pushes(&out), [(2, id(0), 1)]);
    assert!(t.payload(id(0)).is_none());
    // A lazy one: announced, so cached for its GRAFT.
    let mut t = relaying(PlumtreeConfig::default());
    relay(&mut t, 0, b"hi", t0, &mut out);
    assert_eq!(t.payload(id(0)).map(|c| c.hops), Some(1));
}

#[test]
fn a_fresh_payload_from_a_lazy_neighbor_makes_it_eager_and_a_stranger_is_never_added() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2]);
    t.on_prune(1);
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 0, b"a", true, t0, &mut out);
    assert_eq!(t.eager().collect::<Vec<_>>(), [1, 2]);
    assert_eq!(pushes(&out), [(2, id(0), 1)]);
    // A peer that is no neighbor is relayed from but never joins a set.
    out.clear();
    t.on_gossip(9, id(1), addr(), 0, b"b", true, t0, &mut out);
    assert_eq!(pushes(&out), [(1, id(1), 1), (2, id(1), 1)]);
    t.on_graft(9, id(1), t0, &mut out);
    t.on_ihave(9, [(id(5), 1)], never, t0);
    t.on_gossip(9, id(1), addr(), 0, b"b", false, t0, &mut out);
    assert_eq!(t.eager().chain(t.lazy()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(t.missing_len(), 0);
}

#[test]
fn a_missing_payload_is_grafted_after_the_timeout_from_the_announcer_then_the_next() {
    let t0 = Instant::now();
    let cfg = PlumtreeConfig {
        graft_timeout: ms(250),
        graft_retry: ms(125),
        ..PlumtreeConfig::default()
    };
    let mut t = tree_with(cfg, &[1, 2, 3]);
    for p in [1, 2, 3] {
        t.on_prune(p);
    }
    t.on_ihave(1, [(id(0), 2), (id(1), 2)], |i| i == id(1), t0);
    // A later announcement adds an announcer, not a later deadline.
    t.on_ihave(2, [(id(0), 3)], never, t0 + ms(100));
    t.on_ihave(1, [(id(0), 2)], never, t0 + ms(110));
    assert_eq!(t.missing_len(), 1);
    assert_eq!(t.poll_timeout(), Some(t0 + ms(250)));
    let mut out = Vec::new();
    t.handle_timeout(t0 + ms(249), never, &mut out);
    assert!(out.is_empty());
    let steps = [(250, Some(1)), (375, Some(2)), (500, Some(1)), (625, None)];
    for (at, to) in steps {
        assert_eq!(t.poll_timeout(), Some(t0 + ms(at)));
        t.handle_timeout(t0 + ms(at), never, &mut out);
        let want: Vec<_> = to
            .map(|to| Action::Graft { to, id: id(0) })
            .into_iter()
            .collect();
        assert_eq!(out, want, "at {at} ms");
        out.clear();
    }
    // Each announcer grafted from is a tree link again; 3 tries, then given up.
    assert_eq!(t.eager().collect::<Vec<_>>(), [1, 2]);
    let c = t.counters();
    assert_eq!((c.grafts_sent, c.missing_given_up), (3, 1));
    assert_eq!((t.missing_len(), t.poll_timeout()), (0, None));
}

#[test]
fn the_payload_arriving_or_being_seen_cancels_its_graft() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2]);
    t.on_prune(2);
    t.on_ihave(2, [(id(0), 1), (id(1), 1)], never, t0);
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 0, b"a", true, t0 + ms(10), &mut out);
    assert_eq!(t.missing_len(), 1);
    out.clear();
    t.handle_timeout(t0 + ms(250), |i| i == id(1), &mut out);
    assert!(out.iter().all(|a| !matches!(a, Action::Graft { .. })));
    assert_eq!(t.missing_len(), 0);
    assert_eq!(t.counters().missing_given_up, 0);
}

fn ihaves(out: &[Action<u32>]) -> Vec<(u32, Vec<MsgId>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::IHave { to, entries } => Some((*to, entries.iter().map(|e| e.0).collect())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_neighbor_that_announced_a_message_is_not_announced_it_back() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2, 3, 4]);
    for p in [2, 3, 4] {
        t.on_prune(p);
    }
    // 2 and 3 announce it before the tree brings it from 1.
    t.on_ihave(2, [(id(0), 1)], never, t0);
    t.on_ihave(3, [(id(0), 2)], never, t0 + ms(5));
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 0, b"a", true, t0 + ms(10), &mut out);
    assert_eq!(t.missing_len(), 0);
    out.clear();
    t.handle_timeout(t0 + ms(60), never, &mut out);
    assert_eq!(ihaves(&out), [(4, vec![id(0)])]);
    assert_eq!(t.counters().ihave_spared, 2);
    // Announced to no one but 4: cached for it.
    assert!(t.payload(id(0)).is_some());
}

#[test]
fn an_announcement_from_a_neighbor_takes_ours_of_that_id_off_its_queue() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2, 3]);
    t.on_prune(2);
    t.on_prune(3);
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 0, b"a", true, t0, &mut out);
    t.on_gossip(1, id(1), addr(), 0, b"b", true, t0, &mut out);
    // 2 announces id 0 while ours waits for the batch delay: it has it.
    let seen = |i: MsgId| i == id(0) || i == id(1);
    t.on_ihave(2, [(id(0), 1), (id(7), 1)], seen, t0 + ms(20));
    out.clear();
    t.handle_timeout(t0 + ms(50), never, &mut out);
    let mut got = ihaves(&out);
    got.sort();
    assert_eq!(got, [(2, vec![id(1)]), (3, vec![id(0), id(1)])]);
    assert_eq!(t.counters().ihave_spared, 1);
    // An id not seen is still missing, announced by 2.
    assert_eq!(t.missing_len(), 1);
}

#[test]
fn only_the_newest_sixty_four_queued_entries_are_looked_at_for_an_announcement() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2]);
    t.on_prune(2);
    let mut out = Vec::new();
    for seq in 0..100 {
        t.on_gossip(1, id(seq), addr(), 0, b"a", true, t0, &mut out);
    }
    // Id 0 is 100 deep in the queue to 2; id 99 is the newest.
    t.on_ihave(2, [(id(0), 1), (id(99), 1), (id(36), 1)], |_| true, t0);
    assert_eq!(t.counters().ihave_spared, 2, "99 and 36, not 0");
    out.clear();
    t.handle_timeout(t0 + ms(50), never, &mut out);
    let sent: Vec<MsgId> = ihaves(&out).into_iter().flat_map(|(_, ids)| ids).collect();
    assert_eq!(sent.len(), 98);
    assert!(sent.contains(&id(0)) && !sent.contains(&id(99)) && !sent.contains(&id(36)));
}

#[test]
fn missing_age_gives_up_even_with_tries_left() {
    let cfg = PlumtreeConfig {
        missing_age: ms(300),
        max_graft_tries: 10,
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let mut t = tree_with(cfg, &[1]);
    t.on_prune(1);
    t.on_ihave(1, [(id(0), 1)], never, t0);
    let mut out = Vec::new();
    t.handle_timeout(t0 + ms(250), never, &mut out);
    assert_eq!(out, [Action::Graft { to: 1, id: id(0) }]);
    // The retry would be at 375 ms; the age limit comes first.
    assert_eq!(t.poll_timeout(), Some(t0 + ms(300)));
    out.clear();
    t.handle_timeout(t0 + ms(300), never, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.counters().missing_given_up, 1);
}

#[test]
fn the_missing_table_ignores_new_ids_at_its_cap_and_keeps_sixteen_announcers() {
    let cfg = PlumtreeConfig {
        missing_cap: 2,
        max_graft_tries: 100,
        missing_age: Duration::from_secs(60),
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let peers: Vec<u32> = (1..=20).collect();
    let mut t = tree_with(cfg, &peers);
    for &p in &peers {
        t.on_prune(p);
        t.on_ihave(p, [(id(0), 1)], never, t0);
    }
    t.on_ihave(1, [(id(1), 1), (id(2), 1)], never, t0);
    assert_eq!(t.missing_len(), 2);
    assert_eq!(t.counters().missing_ignored, 1);
    // The grafts for id 0 go round its first 16 announcers.
    let mut tried = Vec::new();
    let mut now = t0 + ms(250);
    for _ in 0..20 {
        let mut out = Vec::new();
        t.handle_timeout(now, |i| i != id(0), &mut out);
        tried.extend(out.iter().map(|a| match a {
            Action::Graft { to, .. } => *to,
            a => panic!("{a:?}"),
        }));
        now += ms(125);
    }
    let want: Vec<u32> = (1..=16).chain(1..=4).collect();
    assert_eq!(tried, want);
}

#[test]
fn a_graft_is_answered_with_the_cached_hops_and_turns_the_link_eager() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2]);
    t.on_prune(1);
    let mut out = Vec::new();
    t.on_gossip(2, id(0), addr(), 3, b"abc", true, t0, &mut out);
    out.clear();
    t.on_graft(1, id(0), t0 + ms(300), &mut out);
    assert_eq!(pushes(&out), [(1, id(0), 4)]);
    assert_eq!(t.eager().collect::<Vec<_>>(), [1, 2]);
    out.clear();
    t.on_graft(1, id(9), t0, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.counters().graft_misses, 1);
}

#[test]
fn the_cache_drops_its_oldest_at_the_message_cap() {
    let cfg = PlumtreeConfig {
        cache_max_msgs: 3,
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let mut t = relaying(cfg);
    let mut out = Vec::new();
    for seq in 0..4 {
        relay(&mut t, seq, b"p", t0, &mut out);
    }
    assert!(t.payload(id(0)).is_none());
    assert!((1..4).all(|s| t.payload(id(s)).is_some()));
    assert_eq!((t.cache_len(), t.counters().cache_evicted), ((3, 3), 1));
}

#[test]
fn the_cache_drops_its_oldest_at_the_byte_cap_and_never_holds_a_larger_payload() {
    let cfg = PlumtreeConfig {
        cache_max_bytes: 10,
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let mut t = relaying(cfg);
    let mut out = Vec::new();
    for seq in 0..3 {
        relay(&mut t, seq, b"1234", t0, &mut out);
    }
    assert_eq!(t.cache_len(), (2, 8));
    assert!(t.payload(id(0)).is_none());
    out.clear();
    t.neighbor_up(3);
    relay(&mut t, 3, &[0; 11], t0, &mut out);
    // Too large to cache, yet still pushed.
    assert_eq!(pushes(&out), [(3, id(3), 1)]);
    assert!(t.payload(id(3)).is_none());
    assert_eq!((t.cache_len(), t.counters().cache_evicted), ((2, 8), 2));
}

#[test]
fn cached_payloads_expire_at_their_age_and_give_their_memory_back() {
    let cfg = PlumtreeConfig {
        cache_age: Duration::from_secs(1),
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let mut t = relaying(cfg);
    let idle = t.memory();
    let mut out = Vec::new();
    relay(&mut t, 0, &[7; 1000], t0, &mut out);
    relay(&mut t, 1, &[7; 1000], t0 + ms(500), &mut out);
    assert!(t.memory() > idle + 2000);
    // Their IHAVEs go first.
    t.handle_timeout(t0 + ms(600), never, &mut out);
    assert_eq!(t.poll_timeout(), Some(t0 + Duration::from_secs(1)));
    t.handle_timeout(t0 + Duration::from_secs(1), never, &mut out);
    assert!(t.payload(id(0)).is_none() && t.payload(id(1)).is_some());
    out.clear();
    t.on_graft(1, id(1), t0 + ms(1500), &mut out);
    assert!(out.is_empty(), "expired at 1.5 s: {out:?}");
    assert_eq!(t.cache_len(), (0, 0));
    assert_eq!(t.memory(), idle);
    assert_eq!(t.counters().cache_evicted, 0);
}

#[test]
fn ihave_batches_respect_the_batch_size_and_the_queue_cap() {
    let cfg = PlumtreeConfig {
        max_ihave_batch: 4,
        max_ihave_queue: 10,
        ..PlumtreeConfig::default()
    };
    let t0 = Instant::now();
    let mut t = tree_with(cfg, &[1, 2]);
    t.on_prune(2);
    let mut out = Vec::new();
    for seq in 0..12 {
        t.on_gossip(
            1,
            id(seq),
            addr(),
            0,
            b"m",
            true,
            t0 + ms(seq as u64 * 3),
            &mut out,
        );
    }
    assert!(out.is_empty());
    // The first queued announcement sets the flush time for all of them.
    assert_eq!(t.poll_timeout(), Some(t0 + ms(50)));
    t.handle_timeout(t0 + ms(50), never, &mut out);
    let frames: Vec<Vec<u32>> = out
        .iter()
        .map(|a| match a {
            Action::IHave { to: 2, entries } => entries.iter().map(|(i, _)| i.seq).collect(),
            a => panic!("{a:?}"),
        })
        .collect();
    assert_eq!(frames, [vec![2, 3, 4, 5], vec![6, 7, 8, 9], vec![10, 11]]);
    assert_eq!(t.counters().ihave_dropped, 2);
    assert_eq!(
        t.poll_timeout(),
        Some(t0 + PlumtreeConfig::default().cache_age)
    );
}

#[test]
fn neighbor_down_forgets_the_peer_its_queued_ihaves_and_its_announcements() {
    let t0 = Instant::now();
    let mut t = tree(&[1, 2, 3]);
    t.on_prune(2);
    t.on_prune(3);
    let mut out = Vec::new();
    t.on_gossip(1, id(0), addr(), 0, b"a", true, t0, &mut out);
    t.on_ihave(2, [(id(50), 1), (id(51), 1)], never, t0);
    t.on_ihave(3, [(id(50), 1)], never, t0);
    t.neighbor_down(2);
    assert_eq!(t.eager().chain(t.lazy()).collect::<Vec<_>>(), [1, 3]);
    // id 51 had only 2 as its announcer: forgotten, not given up.
    assert_eq!(t.missing_len(), 1);
    t.handle_timeout(t0 + ms(250), never, &mut out);
    assert_eq!(
        out,
        [
            Action::Graft { to: 3, id: id(50) },
            Action::IHave {
                to: 3,
                entries: vec![(id(0), 1)]
            }
        ]
    );
    assert_eq!(t.counters().missing_given_up, 0);
    t.neighbor_down(3);
    t.neighbor_down(1);
    assert_eq!(
        (t.missing_len(), t.eager().count() + t.lazy().count()),
        (0, 0)
    );
}

#[test]
fn an_idle_tree_allocates_nothing() {
    let t: Plumtree<SocketAddr> = Plumtree::new(PlumtreeConfig::default());
    assert_eq!(t.memory(), size_of::<Plumtree<SocketAddr>>());
    assert!(t.memory() < 512, "{} bytes", t.memory());
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn a_missing_id_still_coming_another_way_is_grafted_only_once_it_is_not() {
    let t0 = Instant::now();
    let cfg = PlumtreeConfig {
        graft_timeout: ms(100),
        graft_retry: ms(50),
        missing_age: ms(1_000),
        ..PlumtreeConfig::default()
    };
    let mut t = tree_with(cfg, &[1]);
    t.on_prune(1);
    t.on_ihave(1, [(id(0), 1)], never, t0);
    let mut out = Vec::new();
    // Waited for: looked at again each graft_retry, no graft, no try.
    for at in [100, 150, 200] {
        assert_eq!(t.poll_timeout(), Some(t0 + ms(at)));
        t.handle_timeout_waiting(t0 + ms(at), never, |_| true, &mut out);
        assert!(out.is_empty(), "at {at} ms: {out:?}");
    }
    assert_eq!(t.missing_len(), 1);
    // No longer coming: grafted, with every try still to spend.
    t.handle_timeout_waiting(t0 + ms(250), never, |_| false, &mut out);
    assert_eq!(out, [Action::Graft { to: 1, id: id(0) }]);
    assert_eq!(t.counters().grafts_sent, 1);
    // And waiting never outlives missing_age.
    let mut t = tree_with(cfg, &[1]);
    t.on_prune(1);
    t.on_ihave(1, [(id(1), 1)], never, t0);
    out.clear();
    let mut now = t0;
    while let Some(due) = t.poll_timeout() {
        now = due;
        t.handle_timeout_waiting(now, never, |_| true, &mut out);
    }
    assert!(out.is_empty());
    assert_eq!(now, t0 + ms(1_000));
    assert_eq!((t.missing_len(), t.counters().missing_given_up), (0, 1));
}
