"""PBFT consensus as a pure, sans-IO state machine (see consensus/README.md).

The node creates one ``Replica`` per validator key and drives it::

    replica = Replica(ReplicaConfig(chain_id), my_pubkey65, sign, verify, validate_proposal)
    actions = replica.step(Start(height=head + 1, parent=head_hash, validators=keys,
                                 records=wal_records))
    actions = replica.step(MessageReceived(peer_pubkey65, decode_message(frame)))
    actions = replica.step(Timeout(kind, height, view))          # a SetTimer fired
    actions = replica.step(ProposalReady(proposal, view))         # answer to RequestProposal
    actions = replica.step(Executed(height, new_validators_or_None))  # after each Commit
    actions = replica.step(BlocksFetched(peer, ((proposal, certificate), ...)))
    actions = replica.step(PendingWork(oldest_tx_hash_or_None))

and carries out the returned actions in order: ``Persist`` (fsync a WAL record; it always
precedes the ``Send``/``Broadcast`` of our own signed message), ``Send``, ``Broadcast``,
``SetTimer``, ``Commit`` (store + apply the block with its certificate, then step
``Executed``), ``RequestProposal``, ``RequestBlocks``, ``Evidence``, ``Fault``.

Nothing in this package reads a clock, a socket, a disk, randomness or global config; signing,
verification and proposal validity are injected callables.
"""

from consensus.actions import (
    Action,
    Broadcast,
    Commit,
    Evidence,
    Fault,
    Persist,
    RequestBlocks,
    RequestProposal,
    Reserve,
    Send,
    SetTimer,
)
from consensus.certificate import (
    CommitCertificate,
    decode_certificate,
    encode_certificate,
    make_certificate,
    verify_commit_certificate,
)
from consensus.errors import (
    ConsensusError,
    DecodeError,
    InvalidMessage,
    LocalError,
    RemoteError,
)
from consensus.events import (
    BlocksFetched,
    Event,
    Executed,
    MessageReceived,
    PendingWork,
    ProposalReady,
    Start,
    Timeout,
    TimerKind,
)
from consensus.messages import (
    CommitVote,
    Message,
    NewView,
    Prepare,
    PreparedCertificate,
    PrePrepare,
    SignedMessage,
    Status,
    ViewChange,
    commit_signing_bytes,
    decode_message,
    encode_message,
)
from consensus.replica import Phase, Replica, ReplicaConfig, select_prepared
from consensus.types import Proposal
from consensus.validators import ValidatorSet, max_faulty, quorum_size
from consensus.wal import WalRecord, decode_record, encode_record

__all__ = [
    "Action",
    "BlocksFetched",
    "Broadcast",
    "Commit",
    "CommitCertificate",
    "CommitVote",
    "ConsensusError",
    "DecodeError",
    "Event",
    "Evidence",
    "Executed",
    "Fault",
    "InvalidMessage",
    "LocalError",
    "Message",
    "MessageReceived",
    "NewView",
    "PendingWork",
    "Persist",
    "Phase",
    "PrePrepare",
    "Prepare",
    "PreparedCertificate",
    "Proposal",
    "ProposalReady",
    "RemoteError",
    "Replica",
    "ReplicaConfig",
    "RequestBlocks",
    "RequestProposal",
    "Reserve",
    "Send",
    "SetTimer",
    "SignedMessage",
    "Start",
    "Status",
    "Timeout",
    "TimerKind",
    "ValidatorSet",
    "ViewChange",
    "WalRecord",
    "commit_signing_bytes",
    "decode_certificate",
    "decode_message",
    "decode_record",
    "encode_certificate",
    "encode_message",
    "encode_record",
    "make_certificate",
    "max_faulty",
    "quorum_size",
    "select_prepared",
    "verify_commit_certificate",
]
