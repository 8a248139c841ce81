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
# The nodes of at least two members (the default freshness rule needs answers from two members' nodes, so that
# no single node can hide a halt from this check).
NODES=${TIERGATE_NODES:-"tiergate-a.internal:7400 tiergate-b.internal:7400 tiergate-c.internal:7400"}
TOKEN_DIR=${TIERGATE_TOKEN_DIR:-/var/lib/tiergate/tokens}

tier=$(scontrol show job "$SLURM_JOB_ID" | grep -oE 'tier=[0-9]+' | head -1 | cut -d= -f2)
[[ -n $tier ]] || exit 0   # jobs that declare no tier run at the base tier: nothing to check

mkdir -p "$TOKEN_DIR"
token="$TOKEN_DIR/tier-$tier.token"
node_args=()
for n in $NODES; do node_args+=(--node "$n"); done
# Refresh the token from the first node that issues one (exit 1 from a node means "not authorised now": deny).
got=1
for n in $NODES; do
  tiergate token --node "$n" --tier "$tier" --out "$token" --roster "$ROSTER"
  rc=$?
  [[ $rc == 1 ]] && exit 1
  [[ $rc == 0 ]] && { got=0; break; }
done
[[ $got == 0 ]] || exit 1
# Offline verification plus an online look for halts newer than the token, at every node.
tiergate check --tier "$tier" --token "$token" --roster "$ROSTER" "${node_args[@]}" || exit 1
