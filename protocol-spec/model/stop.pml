/*
 * Tiergate: the stop protocol (halt delivery, gossip, token freshness, gate watch) as a Promela model for spin.
 *
 * What each part stands for, the abstractions and the recorded results: README.md beside this file.
 * One model file; every configuration (the positive design of issue 14 and each negative control) is chosen
 * with -D macros, e.g.
 *
 *   spin -DN=4 -DFQ=2 -DK=3 -a stop.pml && gcc -O2 -o pan pan.c && ./pan -N token_safety
 *   spin -DN=3 -a stop.pml && gcc -O2 -o pan pan.c && ./pan -a -f -N gate_liveness
 *
 * scripts/model-check runs every check.
 *
 * One halt h, signed by a member with halt authority. Node i belongs to member i (one node per member);
 * nodes 0 .. FB-1 are byzantine, the others honest.
 */

/* ---- configuration (defaults: the positive design, N = 3, f = 1) ---- */
#ifndef N
#define N 3                  /* member nodes, 2 ..= 4 */
#endif
#ifndef FB
#define FB 1                 /* byzantine nodes (f): nodes 0 .. FB-1 */
#endif
#ifndef FQ
#define FQ 2                 /* freshness quorum F: attestations by distinct members a token needs */
#endif
#ifndef K
#define K (N - FQ + 1)       /* token safety is checked for attestations made after K honest nodes stored h */
#endif
#ifndef WATCH
#define WATCH 3              /* bit mask: the nodes the gate watches (default {0, 1}: one byzantine, one honest) */
#endif
#ifndef HALT_TO
#define HALT_TO ((1 << N) - 1) /* bit mask: the nodes `tiergate halt` submits h to (default: all) */
#endif
#ifndef ACKS
#define ACKS 2               /* `halt` succeeds when this many distinct members' nodes acknowledged */
#endif
#ifndef REPLAY
#define REPLAY 1             /* 1: a (re)subscription first gets every halt in force; 0: only later pushes */
#endif
#ifndef COUNT_AT_ONCE
#define COUNT_AT_ONCE 1      /* 1: a stored halt counts at once; 0: it may be "not yet counted" (clock ahead) */
#endif
#ifndef BYZ_ISSUER
#define BYZ_ISSUER 1         /* 1: a byzantine node assembles tokens; 0: only honest nodes issue */
#endif
#ifndef GATE_FORGETS
#define GATE_FORGETS 0       /* 1 (control): a later "no halt" state clears a halt the gate has seen */
#endif
#ifndef WITH_GATE
#define WITH_GATE 1          /* 0: leave out the gate and its watch links (token checks do not read them) */
#endif
#ifndef WITH_ISSUER
#define WITH_ISSUER 1        /* 0: leave out the attestations (gate checks do not read them) */
#endif
#ifndef MAXDROPS
#define MAXDROPS 2           /* connection drops (gossip or watch links) in one run; every link reconnects */
#endif

#if N < 2 || N > 4
#error "N must be 2, 3 or 4 (the per-peer options below are written out for up to 4 nodes)"
#endif

#define ALL     ((1 << N) - 1)
#define BYZMASK ((1 << FB) - 1)
#define HONEST  (ALL & ~BYZMASK)
#define BIT(m, i)  (((m) >> (i)) & 1)
#define IS_HONEST(i) ((i) >= FB && (i) < N)
#define IX(a, b) ((a) * N + (b))           /* directed link a -> b */
#define HAS(i) BIT(stored, i)
#define POP(m) (BIT(m, 0) + BIT(m, 1) + BIT(m, 2) + BIT(m, 3))

/* ---- gossip messages between honest nodes (SPEC §8.3, §8.4), one pending set per directed link ----
 * With a single halt every message reduces to a few bits: ENTRIES carries h; DIGEST says whether the sender
 * holds h; FRONTIER says whether the sender holds h and whether it wants a reply. A pending set models a
 * connection's in-flight frames: any pending message may be taken next (reordering), equal messages merge
 * (duplicates of idempotent messages), and a dropped connection loses all of them. */
#define M_ENT   1    /* ENTRIES [h] */
#define M_DIG0  2    /* DIGEST, sender lacks h */
#define M_DIG1  4    /* DIGEST, sender holds h */
#define M_FR0R  8    /* FRONTIER(reply_wanted = 1), sender lacks h */
#define M_FR1R 16    /* FRONTIER(reply_wanted = 1), sender holds h */
#define M_FR0  32    /* FRONTIER(reply_wanted = 0), sender lacks h (with one halt, a node answers a FRONTIER with
                        its own only when it lacks h, so there is no FRONTIER(reply_wanted = 0) holding h) */

/* ---- watch link node -> gate (issue 14's WATCH over a node session) ---- */
#define W_S0   1     /* STATE: no halt in force */
#define W_S1   2     /* STATE: h in force (replayed on subscription) */
#define W_PUSH 4     /* a pushed halt (h, signed: the gate verifies it) */

byte stored;         /* bit i: honest node i has stored h (on disk; SUBMIT, ENTRIES) */
byte counted;        /* bit i: node i's verdict counts h (= stored unless COUNT_AT_ONCE = 0) */
byte nst;            /* honest nodes that stored h */
bool point;          /* K honest nodes have stored h: attestations from here on must not make a token */
byte fresh;          /* bit i: honest node i attested "no halt" after `point` */

byte gq[N * N];      /* gossip: pending messages on the directed link a -> b (honest a, b) */
bool gup[N * N];     /* gossip: the connection a <-> b is up (symmetric) */

bool wup[N];         /* watch link gate <-> node i is up */
bool wreq[N];        /* WATCH request in flight gate -> node i */
bool subd[N];        /* node i holds the gate's subscription (this connection) */
byte wq[N];          /* pending watch messages node i -> gate */

bool subq[N];        /* SUBMIT(h) in flight halter -> node i */
byte acks;           /* ACK(stored) received by the halter, one per node at most */

bool seen;           /* the gate has seen a valid halt (and stopped its job in the same step) */
bool running;        /* the gate's job runs */
byte drops;          /* connection drops so far */

#define HALT_OK   (acks >= ACKS)
#define HSTORED   ((stored & HONEST) != 0)
#if BYZ_ISSUER
/* a byzantine issuer adds the byzantine members' attestations (always "fresh": they sign anything) */
#define MINTED    (point && POP(fresh) + FB >= FQ)
#else
/* an honest issuer attests itself (so one fresh honest attestation is its own) and may add byzantine ones */
#define MINTED    (point && fresh != 0 && POP(fresh) + FB >= FQ)
#endif

/* h reaches honest node i (from node src, or 255 from a client): store, count, push (SPEC §8.3). */
inline store(i, src) {
    if
    :: !BIT(stored, i) ->
        printf("MSC: node %d stores h (from %d; 255 = a client's SUBMIT) and pushes it\n", i, src);
        stored = stored | (1 << i);
#if COUNT_AT_ONCE
        counted = counted | (1 << i);
#endif
        nst++;
        if
        :: nst >= K -> point = true
        :: else -> skip
        fi;
        /* pushed at once as ENTRIES to every connected peer node except the one it came from; a link whose two
         * ends now both hold h carries nothing that can still matter, so its pending messages are dropped
         * (a state-space reduction: every such message is a no-op or only makes more of them) */
        k = FB;
        do
        :: k < N ->
            if
            :: k != i && HAS(k) -> gq[IX(i, k)] = 0; gq[IX(k, i)] = 0
            :: k != i && !HAS(k) && k != src && gup[IX(i, k)] -> gq[IX(i, k)] = gq[IX(i, k)] | M_ENT
            :: else -> skip
            fi;
            k++
        :: else -> break
        od;
        k = 0;
        /* ... and to the gate if it is subscribed on a live connection */
        if
        :: wup[i] && subd[i] -> wq[i] = wq[i] | W_PUSH
        :: else -> skip
        fi
    :: else -> skip
    fi
}

/* Reply from honest node i on the link to j (dropped if the connection is down). */
inline reply(i, j, m) {
    if
    :: gup[IX(i, j)] -> gq[IX(i, j)] = gq[IX(i, j)] | (m)
    :: else -> skip
    fi
}

/* Honest node i takes one pending message from peer j (the options below, one per message kind). */
#define TAKE(j, m) d_step { ((j) < N && (gq[IX(j, i)] & (m))) -> gq[IX(j, i)] = gq[IX(j, i)] & ~(m);
#define GOSSIP_FROM(j) \
    :: TAKE(j, M_ENT) store(i, j) } \
    :: TAKE(j, M_DIG0) if :: HAS(i) -> reply(i, j, M_FR1R) :: else -> skip fi } \
    :: TAKE(j, M_DIG1) if :: !HAS(i) -> reply(i, j, M_FR0R) :: else -> skip fi } \
    :: TAKE(j, M_FR0R) if :: HAS(i) -> reply(i, j, M_ENT) :: else -> skip fi } \
    :: TAKE(j, M_FR1R) if :: !HAS(i) -> reply(i, j, M_FR0) :: else -> skip fi } \
    :: TAKE(j, M_FR0) if :: HAS(i) -> reply(i, j, M_ENT) :: else -> skip fi }

/* An honest member node. */
proctype node(byte i) {
    byte k;
end:
    do
    GOSSIP_FROM(0)
    GOSSIP_FROM(1)
    GOSSIP_FROM(2)
    GOSSIP_FROM(3)
    :: d_step { subq[i] -> subq[i] = false; store(i, 255); acks++ }          /* SUBMIT, ACK after fsync */
    :: d_step { wreq[i] -> wreq[i] = false; subd[i] = true;                  /* WATCH: state first, then pushes */
        if
        :: REPLAY && BIT(counted, i) -> wq[i] = wq[i] | W_S1; printf("MSC: node %d answers WATCH: h in force\n", i)
        :: else -> wq[i] = wq[i] | W_S0; printf("MSC: node %d answers WATCH: no halt\n", i)
        fi }
    od
}

/* A byzantine member node: acknowledges a halt and drops it, answers a watch with "no halt" and never pushes,
 * attests "no halt" to anyone at any time (counted in MINTED), gossips nothing. It cannot sign for others, so
 * it can neither forge a halt nor another member's attestation. */
proctype byz(byte i) {
end:
    do
    :: d_step { subq[i] -> subq[i] = false; acks++; printf("MSC: byzantine node %d acknowledges h and drops it\n", i) }
    :: d_step { wreq[i] -> wreq[i] = false; subd[i] = true; wq[i] = wq[i] | W_S0; printf("MSC: byzantine node %d answers WATCH: no halt\n", i) }
    od
}

/* The gate: watches the nodes in WATCH, starts its job while it has seen no halt, and stops it on the first
 * valid halt from any node (STATE with h in force, or a pushed h; it verifies the signature itself). */
#define GATE_FROM(w) \
    :: d_step { (BIT(WATCH, w) && (wq[w] & (W_S1 | W_PUSH))) -> wq[w] = wq[w] & ~(W_S1 | W_PUSH); \
        seen = true; running = false; printf("MSC: gate gets h from node %d, verifies it, stops the job\n", w) } \
    :: d_step { (BIT(WATCH, w) && (wq[w] & W_S0)) -> wq[w] = wq[w] & ~W_S0; \
        if :: GATE_FORGETS -> seen = false :: else -> skip fi; printf("MSC: gate gets 'no halt' from node %d\n", w) }

proctype gate() {
end:
    do
    :: d_step { !seen && !running -> running = true; printf("MSC: gate starts the job\n") } /* token held, no halt seen */
    GATE_FROM(0)
    GATE_FROM(1)
    GATE_FROM(2)
    GATE_FROM(3)
    od
}

/* Connections drop (at most MAXDROPS times in all) and are re-established; on a new gossip connection both
 * sides send DIGEST right after HELLO (SPEC §8.4); on a new watch connection the gate sends WATCH. */
#define G_LINK(a, b) \
    :: d_step { (IS_HONEST(a) && IS_HONEST(b) && gup[IX(a, b)] && drops < MAXDROPS) -> \
        gup[IX(a, b)] = false; gup[IX(b, a)] = false; gq[IX(a, b)] = 0; gq[IX(b, a)] = 0; drops++; \
        printf("MSC: gossip connection %d-%d drops\n", a, b) } \
    :: d_step { (IS_HONEST(a) && IS_HONEST(b) && !gup[IX(a, b)]) -> \
        gup[IX(a, b)] = true; gup[IX(b, a)] = true; printf("MSC: gossip connection %d-%d up, DIGEST both ways\n", a, b); \
        if \
        :: !(HAS(a) && HAS(b)) -> gq[IX(a, b)] = (HAS(a) -> M_DIG1 : M_DIG0); gq[IX(b, a)] = (HAS(b) -> M_DIG1 : M_DIG0) \
        :: else -> skip \
        fi }
#define W_LINK(w) \
    :: d_step { (BIT(WATCH, w) && wup[w] && drops < MAXDROPS) -> \
        wup[w] = false; wreq[w] = false; subd[w] = false; wq[w] = 0; drops++; printf("MSC: watch connection to node %d drops\n", w) } \
    :: d_step { (BIT(WATCH, w) && !wup[w]) -> wup[w] = true; wreq[w] = true; printf("MSC: gate connects to node %d, sends WATCH\n", w) }

proctype env() {
end:
    do
    G_LINK(0, 1) G_LINK(0, 2) G_LINK(0, 3) G_LINK(1, 2) G_LINK(1, 3) G_LINK(2, 3)
#if WITH_GATE
    W_LINK(0) W_LINK(1) W_LINK(2) W_LINK(3)
#endif
#if !COUNT_AT_ONCE
    :: d_step { counted != stored -> counted = stored; printf("MSC: clocks catch up: every stored h counts\n") }
#endif
    od
}

/* `tiergate halt`: SUBMIT h to each node in HALT_TO; each submission may be lost (no store, no ACK). */
proctype halter() {
    byte t;
    atomic {
    do
    :: t < N ->
        if
        :: BIT(HALT_TO, t) ->
            if
            :: subq[t] = true; printf("MSC: halt: SUBMIT h to node %d\n", t)
            :: printf("MSC: halt: SUBMIT to node %d lost\n", t)
            fi
        :: else -> skip
        fi;
        t++
    :: else -> break
    od;
    t = 0
    }
}

/* Freshness attestations (SPEC §9.2): an issuer may ask any node to attest at any moment (ATTEST_REQUEST);
 * an honest node attests only while its verdict counts no halt. Attestations made before `point` are outside the
 * property (such tokens are bounded by the TTL), so only later ones are recorded. */
#define ATTEST(i) :: d_step { (point && IS_HONEST(i) && !BIT(counted, i) && !BIT(fresh, i)) -> fresh = fresh | (1 << i); \
    printf("MSC: honest node %d attests 'no halt' (after %d honest nodes stored h)\n", i, nst) }

proctype issuer() {
end:
    do
    ATTEST(0) ATTEST(1) ATTEST(2) ATTEST(3)
    od
}

init {
    byte i;
    d_step {
        point = (K <= 0);
        /* gossip connections between honest nodes start up and in sync (no halt yet); watch links start down */
        i = 0;
        do
        :: i < N * N -> gup[i] = (IS_HONEST(i / N) && IS_HONEST(i % N) && i / N != i % N); i++
        :: else -> break
        od;
        i = 0
    }
    atomic {
        /* the environment gets the lowest pid: spin's depth-first search tries it last, so counterexample
         * trails show the protocol's steps first and connection drops only where they are needed */
        run env();
        do
        :: i < N ->
            if
            :: i < FB -> run byz(i)
            :: else -> run node(i)
            fi;
            i++
        :: else -> break
        od;
        i = 0;
        run halter();
#if WITH_ISSUER
        run issuer();
#endif
#if WITH_GATE
        run gate()
#endif
    }
}

/* ---- properties (names used by scripts/model-check and SPEC §10/§8/§9) ---- */

/* token safety: no token of FQ attestations all made after K honest nodes stored h; holds iff K >= N - FQ + 1 */
ltl token_safety { [] !MINTED }

/* gate liveness (weak fairness): h stored by any honest node (all honest nodes gossip with each other, so
 * this covers "in the watch set or gossiping to one") eventually stops the gate */
ltl gate_liveness { [] (HSTORED -> <> seen) }

/* an acknowledged halt (ACKS distinct members' nodes said "stored") eventually stops the gate */
ltl halt_ok_stops { [] (HALT_OK -> <> seen) }

/* no relaunch: once the gate has seen a halt its job never runs again */
ltl no_relaunch { [] (seen -> [] !running) }

/* a witness, expected to FAIL in every configuration: its counterexample is a run in which the job was running
 * and the gate then stopped it, so the positive configuration itself is not vacuous */
ltl witness_stop { [] (running -> [] !seen) }
