/// The node's live status page (`node --http`, SPEC.md §8.8), rendered from a verdict alone: the whole page for `/`
/// (complete without JavaScript), and the same `<main>` fragment for each Server-Sent Event, which the page's one
/// script puts in place. Every text that comes from the ledger (titles, reasons, names, evidence names) is escaped:
/// a proposal titled `<script>` shows as text.
public enum StatusPage {
    /// `&`, `<`, `>`, `"` and `'` as entities.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// The whole page.
    public static func page(_ v: Verdict, node: String, now: UInt64) -> String {
        let lab = escape(v.roster.lab)
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Tiergate · \(lab)</title>
            <link rel="stylesheet" href="/app.css">
            <script src="/app.js" defer></script>
            </head>
            <body>
            <header><h1>Tiergate · \(lab)</h1><p>node <b>\(escape(node))</b> · <span id="conn">as of \(TimeText.format(now))</span></p></header>
            <main id="live">
            \(fragment(v, now: now))
            </main>
            <footer><p>What this page shows is public to whoever can reach it: who proposed and who voted what, before a
            window closes. It is served on loopback unless the node was told otherwise.</p></footer>
            </body>
            </html>

            """
    }

    /// What changes: the ladder, halts, proposals, timeline and equivocations.
    public static func fragment(_ v: Verdict, now: UInt64) -> String {
        var h = ""
        // The tier ladder.
        let state = v.halted ? "halted" : (v.authorizedTier > v.baseTier ? "authorised" : "paused")
        h += "<section id=\"tier\" class=\"\(state)\"><h2>Authorised tier</h2>\n"
        h += "<p class=\"tier\"><span id=\"authorised-tier\" data-tier=\"\(v.authorizedTier)\">\(v.authorizedTier)</span>"
        h += v.halted ? " <span id=\"halted\" class=\"badge halt\">HALTED</span>" : ""
        h += "</p>\n<ol class=\"ladder\">"
        for t in v.baseTier...max(v.baseTier, v.roster.maxTier) {
            let cls = t == v.authorizedTier ? "current" : (t < v.authorizedTier ? "below" : "above")
            h += "<li class=\"\(cls)\" data-tier=\"\(t)\">tier \(t)\(t == v.baseTier ? " (base)" : "")</li>"
        }
        h += "</ol>\n"
        if let at = v.lapsesAt, v.authorizedTier > v.baseTier {
            h += "<p id=\"lapse\">Lapses at <time>\(TimeText.format(at))</time> unless re-affirmed (then tier \(v.baseTier)).</p>\n"
        }
        h += "</section>\n"

        // Halts in force.
        let halts = v.activeHalts
        h += "<section id=\"halts\"><h2>Halts in force (\(halts.count))</h2>\n"
        if halts.isEmpty {
            h += "<p>None.</p>\n"
        } else {
            h += "<ul>"
            for x in halts {
                h += "<li class=\"halt\" data-id=\"\(x.id.hex)\"><b>\(escape(x.member))</b> at <time>\(TimeText.format(x.time))</time>: "
                h += "<q>\(escape(x.reason))</q> <code>\(x.id.short)…</code></li>"
            }
            h += "</ul>\n"
        }
        h += "</section>\n"

        // Open proposals, with their progress per rule.
        let open = v.proposals.filter(\.open)
        h += "<section id=\"proposals\"><h2>Open proposals (\(open.count))</h2>\n"
        if open.isEmpty { h += "<p>None.</p>\n" }
        for p in open {
            h += "<article class=\"proposal\" data-id=\"\(p.id.hex)\"><h3>\(escape(p.title))</h3>\n"
            h += "<p>\(escape(p.action)) to tier \(p.tier) · proposed by \(escape(p.proposer)) · closes <time>\(TimeText.format(p.closesAt))</time></p>\n"
            h += "<p class=\"progress\"><meter min=\"0\" max=\"\(max(p.needYes, 1))\" value=\"\(p.yes)\"></meter> <b>\(p.yes) of \(p.needYes) yes</b>"
            h += ", \(p.no) no, \(p.abstain) abstain</p>\n"
            if !p.roles.isEmpty {
                h += "<ul class=\"roles\">" + p.roles.map { "<li>\(escape($0.role)): \($0.have) of \($0.need)</li>" }.joined() + "</ul>\n"
            }
            if !p.vetoedBy.isEmpty { h += "<p class=\"veto\">Vetoed by \(p.vetoedBy.map(escape).joined(separator: ", "))</p>\n" }
            if !p.evidence.isEmpty {
                h += "<ul class=\"evidence\">" + p.evidence.map { "<li>\(escape($0.name)) <code>\($0.hash.hex)</code></li>" }.joined() + "</ul>\n"
            }
            let counted = p.votes.filter { $0.ignored == nil }
            if !counted.isEmpty {
                h += "<ul class=\"votes\">" + counted.map { "<li>\(escape($0.member)): \($0.choice.name)\($0.reason.isEmpty ? "" : " — \(escape($0.reason))")</li>" }.joined() + "</ul>\n"
            }
            h += "</article>\n"
        }
        h += "</section>\n"

        // The last drill and the schedule (SPEC.md §5.8).
        let sc = v.drillSchedule
        if let d = v.drills.last {
            h += "<section id=\"drill\" class=\"\(d.state.rawValue)\"><h2>Last drill</h2>\n"
            h += "<p>by \(escape(d.member)) at <time>\(TimeText.format(d.time))</time>: <q>\(escape(d.reason))</q> <code>\(d.id.short)…</code> — "
            h += "<b class=\"drill-state\">\(escape(d.summaryLine))</b></p>\n<table><tr><th>enforcer</th><th>time to stop</th><th>jobs</th><th>canary</th></tr>"
            for a in d.acks {
                h += "<tr class=\"\(a.onTime ? "ontime" : "late")\"><td>\(escape(a.member))</td><td>\(a.latencyMs) ms\(a.onTime ? "" : " (late)")</td>"
                h += "<td>\(a.jobs)</td><td>\(a.canary.name)</td></tr>"
            }
            for m in d.missing where !d.acks.contains(where: { $0.member == m }) {
                h += "<tr class=\"missing\"><td>\(escape(m))</td><td colspan=\"3\">\(d.state == .pending ? "waiting" : "MISSING")</td></tr>"
            }
            h += "</table>\n"
            if sc.overdue { h += "<p id=\"drill-overdue\" class=\"badge halt\">DRILL OVERDUE\(sc.lapseOnOverdue ? ": authorisation above the base tier is suspended" : "")</p>\n" }
            h += "</section>\n"
        } else if sc.intervalMs > 0 {
            h += "<section id=\"drill\"><h2>Drills</h2><p id=\"drill-overdue\" class=\"badge halt\">No drill has succeeded yet: one is due every "
            h += "\(DurationText.format(sc.intervalMs))\(sc.lapseOnOverdue ? "; authorisation above the base tier is suspended until one succeeds" : "")</p></section>\n"
        }

        // A recent timeline, newest first.
        let events = LabEvents.all(v, now: now).suffix(25).reversed()
        h += "<section id=\"timeline\"><h2>Recent</h2>\n<ol>"
        for e in events {
            h += "<li class=\"event \(e.kind.rawValue)\"><time>\(e.time == 0 ? "—" : TimeText.format(e.time))</time> \(escape(e.text))</li>"
        }
        h += "</ol>\n</section>\n"

        if !v.equivocations.isEmpty {
            h += "<section id=\"equivocations\"><h2>Equivocations (\(v.equivocations.count))</h2>\n<ul>"
            for e in v.equivocations {
                h += "<li><b>\(escape(e.member))</b> signed two entries at position \(e.seq); its votes stop counting</li>"
            }
            h += "</ul>\n</section>\n"
        }
        h += "<p class=\"meta\">verdict as of <time>\(TimeText.format(now))</time> · \(v.entryCount) entries · roster version \(v.rosterVersion)</p>"
        return h
    }

    /// The page's one script: replaces `<main>` with each `status` event's fragment (Server-Sent Events, `/events`).
    public static let script = """
        (function () {
          "use strict";
          var main = document.getElementById("live");
          var conn = document.getElementById("conn");
          window.tiergateLoadedAt = Date.now();
          if (!window.EventSource || !main) { return; }
          var source = new EventSource("/events");
          source.addEventListener("status", function (e) {
            main.innerHTML = e.data;
            conn.textContent = "live";
            document.body.dataset.updates = String(Number(document.body.dataset.updates || "0") + 1);
          });
          source.onerror = function () { conn.textContent = "reconnecting…"; };
        })();

        """

    public static let style = """
        body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; color: #1b1b1b; }
        header h1 { margin: 0; font-size: 1.4rem; } header p { margin: .2rem 0 1rem; color: #555; }
        section { border-top: 1px solid #ddd; padding: .5rem 0; }
        h2 { font-size: 1.05rem; margin: .3rem 0; } h3 { font-size: 1rem; margin: .2rem 0; }
        .tier { font-size: 2.4rem; font-weight: 700; margin: .2rem 0; }
        .badge.halt { font-size: 1rem; background: #b00020; color: #fff; padding: .15rem .5rem; border-radius: .3rem; vertical-align: middle; }
        #tier.halted .tier { color: #b00020; } #tier.authorised .tier { color: #0b6e2f; }
        .ladder { display: flex; gap: .3rem; list-style: none; padding: 0; flex-wrap: wrap; }
        .ladder li { border: 1px solid #bbb; border-radius: .3rem; padding: .1rem .5rem; color: #777; }
        .ladder li.below { background: #e7f4ea; color: #0b6e2f; } .ladder li.current { background: #0b6e2f; color: #fff; border-color: #0b6e2f; }
        #tier.halted .ladder li.current { background: #b00020; border-color: #b00020; }
        .halt { color: #b00020; } .proposal { border: 1px solid #ddd; border-radius: .4rem; padding: .4rem .7rem; margin: .4rem 0; }
        .veto { color: #b00020; } code { font-size: .85em; } .meta, footer { color: #666; font-size: .85rem; }
        #timeline ol { list-style: none; padding: 0; } #timeline time { color: #666; margin-right: .4rem; }
        .event.halt, .event.equivocation { color: #b00020; } .event.proposal_passed, .event.resume { color: #0b6e2f; }

        """
}
