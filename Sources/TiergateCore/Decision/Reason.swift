/// Why something in a verdict does not count, or what a passed proposal did: a stable, machine-readable code
/// (SPEC.md §5.7; `--json` carries it beside the text, scripts and tests compare it) and the human text.
public struct Reason: Hashable, Sendable, CustomStringConvertible {
    public let code: ReasonCode
    public let text: String

    public init(_ code: ReasonCode, _ text: String) {
        self.code = code
        self.text = text
    }

    public var description: String { text }
}

/// The reason codes of SPEC.md §5.7. A code's meaning never changes; new situations get new codes.
public enum ReasonCode: String, Sendable, CaseIterable {
    // A vote that does not count (§5.1, §5.3), in the order they are tested.
    case voteDatedAhead = "vote_dated_ahead"
    case voteByNonMember = "vote_by_non_member"
    case voteByObserver = "vote_by_observer"
    case voteByEquivocator = "vote_by_equivocator"
    case voteWrongRosterVersion = "vote_wrong_roster_version"
    case voteBeforeProposal = "vote_before_proposal"
    case voteAfterWindow = "vote_after_window"
    case voteAfterRosterSuperseded = "vote_after_roster_superseded"
    // A proposal that cannot count at all (§5.1, §5.2).
    case proposalDatedAhead = "proposal_dated_ahead"
    case proposalWrongRosterVersion = "proposal_wrong_roster_version"
    case proposalByNonMember = "proposal_by_non_member"
    case proposalByObserver = "proposal_by_observer"
    // A halt that does not count (§5.4). (A halt dated ahead counts: there is no code for it.)
    case haltWrongRosterVersion = "halt_wrong_roster_version"
    case haltByNonMember = "halt_by_non_member"
    case haltWithoutAuthority = "halt_without_authority"
    // An anonymous halt that does not count (§5.4).
    case anonymousHaltWrongRosterVersion = "anonymous_halt_wrong_roster_version"
    case anonymousHaltNotAllowed = "anonymous_halt_not_allowed"
    case anonymousHaltWrongPeriod = "anonymous_halt_wrong_period"
    case anonymousHaltWrongRing = "anonymous_halt_wrong_ring"
    // A drill or drill acknowledgement that does not count (§5.8).
    case drillDatedAhead = "drill_dated_ahead"
    case drillWrongRosterVersion = "drill_wrong_roster_version"
    case drillByNonMember = "drill_by_non_member"
    case drillWithoutAuthority = "drill_without_authority"
    case drillAckDatedAhead = "drill_ack_dated_ahead"
    case drillAckUnknownDrill = "drill_ack_unknown_drill"
    case drillAckByNonMember = "drill_ack_by_non_member"
    // What a passed proposal did (§5.5).
    case applied = "applied"
    case appliedAtHaltedTier = "applied_at_halted_tier"
    case reaffirmed = "reaffirmed"
    case haltedWhenPassed = "no_effect_halted"
    case notNextTier = "no_effect_not_next_tier"
    case noActiveHalt = "no_effect_no_active_halt"
    case resolvedAhead = "resolved_halts_dated_ahead"
    case stillHaltedByOthers = "resolved_still_halted"
    case amendmentInForce = "amendment_in_force"
    case amendmentCoolingOff = "amendment_cooling_off"
    case amendmentSuperseded = "no_effect_other_amendment_first"
}
