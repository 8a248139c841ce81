#!/usr/bin/env bash
# Slurm prolog: refuse to start a job at a capability tier that Tiergate does not authorise now.
#
# Install as the Prolog (slurm.conf: Prolog=/etc/slurm/tiergate-prolog.sh). A job declares its tier with a
# comment or a job feature, e.g. `sbatch --comment tier=3 train.sbatch`. A non-zero exit from the prolog makes
# Slurm drain the node and requeue the job, so nothing runs without authorisation.
#
# Exit-code contract of `tiergate check`: 0 allow; 1 deny (halted, expired, lapsed, quorum not met, tampered,
# wrong lab); 2 cannot evaluate (unreadable token or roster, unreachable node). Anything but 0: do not launch.
#
# Node links are authenticated: the cluster holds an observer key the roster lists (role `observer`: it may read
# status and fetch tokens, never vote). Keep it readable by the prolog's user only (mode 0600).
set -u
export TIERGATE_KEY=${TIERGATE_KEY:-/etc/tiergate/cluster.key}
ROSTER=${TIERGATE_ROSTER:-/etc/tiergate/roster.json}
NODE=${TIERGATE_NODE:-tiergate-a.internal:7400}
TOKEN_DIR=${TIERGATE_TOKEN_DIR:-/var/lib/tiergate/tokens}

tier=$(scontrol show job "$SLURM_JOB_ID" | grep -oE 'tier=[0-9]+' | head -1 | cut -d= -f2)
[[ -n $tier ]] || exit 0   # jobs that declare no tier run at the base tier: nothing to check

mkdir -p "$TOKEN_DIR"
token="$TOKEN_DIR/tier-$tier.token"
# Refresh the token (exit 1 here means "not authorised now": deny).
tiergate token --node "$NODE" --tier "$tier" --out "$token" --roster "$ROSTER" || exit 1
# Offline verification plus an online look for halts newer than the token.
tiergate check --tier "$tier" --token "$token" --roster "$ROSTER" --node "$NODE" || exit 1
