from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TimeInForce(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GTC: _ClassVar[TimeInForce]
    IOC: _ClassVar[TimeInForce]

class StatusCode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_CODE_UNSPECIFIED: _ClassVar[StatusCode]
    ACK: _ClassVar[StatusCode]
    DONE: _ClassVar[StatusCode]
    REJECT_MALFORMED: _ClassVar[StatusCode]
    REJECT_VERSION: _ClassVar[StatusCode]
    REJECT_UNKNOWN_CONTRACT: _ClassVar[StatusCode]
    REJECT_INVALID_SIZE: _ClassVar[StatusCode]
    REJECT_INVALID_PRICE: _ClassVar[StatusCode]
    REJECT_UNKNOWN_ENTRY: _ClassVar[StatusCode]
    REJECT_BATCH: _ClassVar[StatusCode]
    REJECT_REPLAY_UNAVAILABLE: _ClassVar[StatusCode]
    REJECT_THROTTLED: _ClassVar[StatusCode]

class StatusType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STATUS_TYPE_UNSPECIFIED: _ClassVar[StatusType]
    INSERTED: _ClassVar[StatusType]
    CROSS: _ClassVar[StatusType]
    NOT_FILLED: _ClassVar[StatusType]
    CANCELLED: _ClassVar[StatusType]
    REPLACED: _ClassVar[StatusType]
    REJECTED: _ClassVar[StatusType]
    EXPIRED: _ClassVar[StatusType]
GTC: TimeInForce
IOC: TimeInForce
STATUS_CODE_UNSPECIFIED: StatusCode
ACK: StatusCode
DONE: StatusCode
REJECT_MALFORMED: StatusCode
REJECT_VERSION: StatusCode
REJECT_UNKNOWN_CONTRACT: StatusCode
REJECT_INVALID_SIZE: StatusCode
REJECT_INVALID_PRICE: StatusCode
REJECT_UNKNOWN_ENTRY: StatusCode
REJECT_BATCH: StatusCode
REJECT_REPLAY_UNAVAILABLE: StatusCode
REJECT_THROTTLED: StatusCode
STATUS_TYPE_UNSPECIFIED: StatusType
INSERTED: StatusType
CROSS: StatusType
NOT_FILLED: StatusType
CANCELLED: StatusType
REPLACED: StatusType
REJECTED: StatusType
EXPIRED: StatusType

class LimitOrder(_message.Message):
    __slots__ = ("contract_id", "is_ask", "size", "price_in_cents", "time_in_force", "client_ref")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ASK_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PRICE_IN_CENTS_FIELD_NUMBER: _ClassVar[int]
    TIME_IN_FORCE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REF_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    is_ask: bool
    size: int
    price_in_cents: int
    time_in_force: TimeInForce
    client_ref: str
    def __init__(self, contract_id: _Optional[int] = ..., is_ask: _Optional[bool] = ..., size: _Optional[int] = ..., price_in_cents: _Optional[int] = ..., time_in_force: _Optional[_Union[TimeInForce, str]] = ..., client_ref: _Optional[str] = ...) -> None: ...

class CancelOrder(_message.Message):
    __slots__ = ("contract_id", "entry_id")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    entry_id: str
    def __init__(self, contract_id: _Optional[int] = ..., entry_id: _Optional[str] = ...) -> None: ...

class CancelReplace(_message.Message):
    __slots__ = ("contract_id", "entry_id", "size", "price_in_cents")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PRICE_IN_CENTS_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    entry_id: str
    size: int
    price_in_cents: int
    def __init__(self, contract_id: _Optional[int] = ..., entry_id: _Optional[str] = ..., size: _Optional[int] = ..., price_in_cents: _Optional[int] = ...) -> None: ...

class CancelAll(_message.Message):
    __slots__ = ("contract_id",)
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    def __init__(self, contract_id: _Optional[int] = ...) -> None: ...

class GetContracts(_message.Message):
    __slots__ = ("contract_id",)
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    def __init__(self, contract_id: _Optional[int] = ...) -> None: ...

class GetBookState(_message.Message):
    __slots__ = ("contract_id",)
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    def __init__(self, contract_id: _Optional[int] = ...) -> None: ...

class GetOpenOrders(_message.Message):
    __slots__ = ("contract_id",)
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    def __init__(self, contract_id: _Optional[int] = ...) -> None: ...

class Batch(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[Envelope]
    def __init__(self, messages: _Optional[_Iterable[_Union[Envelope, _Mapping]]] = ...) -> None: ...

class MessageReplay(_message.Message):
    __slots__ = ("run_id", "from_seq", "to_seq", "mids")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    MIDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    from_seq: int
    to_seq: int
    mids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, run_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., mids: _Optional[_Iterable[str]] = ...) -> None: ...

class Status(_message.Message):
    __slots__ = ("code", "message", "duplicate")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    code: StatusCode
    message: str
    duplicate: bool
    def __init__(self, code: _Optional[_Union[StatusCode, str]] = ..., message: _Optional[str] = ..., duplicate: _Optional[bool] = ...) -> None: ...

class ActionReport(_message.Message):
    __slots__ = ("contract_id", "entry_id", "status_type", "is_ask", "price_in_cents", "size", "filled_size", "filled_price", "original_size", "clock", "trade_id", "mpid")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_ASK_FIELD_NUMBER: _ClassVar[int]
    PRICE_IN_CENTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    FILLED_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILLED_PRICE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    TRADE_ID_FIELD_NUMBER: _ClassVar[int]
    MPID_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    entry_id: str
    status_type: StatusType
    is_ask: bool
    price_in_cents: int
    size: int
    filled_size: int
    filled_price: int
    original_size: int
    clock: int
    trade_id: int
    mpid: int
    def __init__(self, contract_id: _Optional[int] = ..., entry_id: _Optional[str] = ..., status_type: _Optional[_Union[StatusType, str]] = ..., is_ask: _Optional[bool] = ..., price_in_cents: _Optional[int] = ..., size: _Optional[int] = ..., filled_size: _Optional[int] = ..., filled_price: _Optional[int] = ..., original_size: _Optional[int] = ..., clock: _Optional[int] = ..., trade_id: _Optional[int] = ..., mpid: _Optional[int] = ...) -> None: ...

class BookTop(_message.Message):
    __slots__ = ("contract_id", "bid", "bid_size", "ask", "ask_size", "clock")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    BID_FIELD_NUMBER: _ClassVar[int]
    BID_SIZE_FIELD_NUMBER: _ClassVar[int]
    ASK_FIELD_NUMBER: _ClassVar[int]
    ASK_SIZE_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    bid: int
    bid_size: int
    ask: int
    ask_size: int
    clock: int
    def __init__(self, contract_id: _Optional[int] = ..., bid: _Optional[int] = ..., bid_size: _Optional[int] = ..., ask: _Optional[int] = ..., ask_size: _Optional[int] = ..., clock: _Optional[int] = ...) -> None: ...

class BookEntry(_message.Message):
    __slots__ = ("entry_id", "is_ask", "price_in_cents", "size")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ASK_FIELD_NUMBER: _ClassVar[int]
    PRICE_IN_CENTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    is_ask: bool
    price_in_cents: int
    size: int
    def __init__(self, entry_id: _Optional[str] = ..., is_ask: _Optional[bool] = ..., price_in_cents: _Optional[int] = ..., size: _Optional[int] = ...) -> None: ...

class BookStateSnapshot(_message.Message):
    __slots__ = ("contract_id", "clock", "entries")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    clock: int
    entries: _containers.RepeatedCompositeFieldContainer[BookEntry]
    def __init__(self, contract_id: _Optional[int] = ..., clock: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[BookEntry, _Mapping]]] = ...) -> None: ...

class OpenOrder(_message.Message):
    __slots__ = ("entry_id", "is_ask", "price_in_cents", "size", "contract_id", "original_size", "filled_size")
    ENTRY_ID_FIELD_NUMBER: _ClassVar[int]
    IS_ASK_FIELD_NUMBER: _ClassVar[int]
    PRICE_IN_CENTS_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    FILLED_SIZE_FIELD_NUMBER: _ClassVar[int]
    entry_id: str
    is_ask: bool
    price_in_cents: int
    size: int
    contract_id: int
    original_size: int
    filled_size: int
    def __init__(self, entry_id: _Optional[str] = ..., is_ask: _Optional[bool] = ..., price_in_cents: _Optional[int] = ..., size: _Optional[int] = ..., contract_id: _Optional[int] = ..., original_size: _Optional[int] = ..., filled_size: _Optional[int] = ...) -> None: ...

class OpenOrdersSnapshot(_message.Message):
    __slots__ = ("run_id", "as_of_seq", "entries")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    AS_OF_SEQ_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    as_of_seq: int
    entries: _containers.RepeatedCompositeFieldContainer[OpenOrder]
    def __init__(self, run_id: _Optional[str] = ..., as_of_seq: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[OpenOrder, _Mapping]]] = ...) -> None: ...

class ContractDetail(_message.Message):
    __slots__ = ("contract_id", "label", "tick_cents", "multiplier", "active")
    CONTRACT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    TICK_CENTS_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    contract_id: int
    label: str
    tick_cents: int
    multiplier: int
    active: bool
    def __init__(self, contract_id: _Optional[int] = ..., label: _Optional[str] = ..., tick_cents: _Optional[int] = ..., multiplier: _Optional[int] = ..., active: _Optional[bool] = ...) -> None: ...

class BatchAck(_message.Message):
    __slots__ = ("mid", "code", "message")
    MID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    mid: str
    code: StatusCode
    message: str
    def __init__(self, mid: _Optional[str] = ..., code: _Optional[_Union[StatusCode, str]] = ..., message: _Optional[str] = ...) -> None: ...

class BatchAcks(_message.Message):
    __slots__ = ("acks",)
    ACKS_FIELD_NUMBER: _ClassVar[int]
    acks: _containers.RepeatedCompositeFieldContainer[BatchAck]
    def __init__(self, acks: _Optional[_Iterable[_Union[BatchAck, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("interval_ms", "beat")
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    BEAT_FIELD_NUMBER: _ClassVar[int]
    interval_ms: int
    beat: int
    def __init__(self, interval_ms: _Optional[int] = ..., beat: _Optional[int] = ...) -> None: ...

class ReplayDone(_message.Message):
    __slots__ = ("run_id", "from_seq", "to_seq", "count", "complete")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    TO_SEQ_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    from_seq: int
    to_seq: int
    count: int
    complete: bool
    def __init__(self, run_id: _Optional[str] = ..., from_seq: _Optional[int] = ..., to_seq: _Optional[int] = ..., count: _Optional[int] = ..., complete: _Optional[bool] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("mid", "seq", "run_id", "timestamp", "ticks", "mversion", "is_replay", "limit_order", "cancel_order", "cancel_replace", "cancel_all", "get_contracts", "get_book_state", "get_open_orders", "batch", "message_replay", "status", "action_report", "book_top", "book_state_snapshot", "open_orders_snapshot", "contract_detail", "batch_acks", "heartbeat", "replay_done")
    MID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    MVERSION_FIELD_NUMBER: _ClassVar[int]
    IS_REPLAY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REPLACE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ALL_FIELD_NUMBER: _ClassVar[int]
    GET_CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    GET_BOOK_STATE_FIELD_NUMBER: _ClassVar[int]
    GET_OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REPLAY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTION_REPORT_FIELD_NUMBER: _ClassVar[int]
    BOOK_TOP_FIELD_NUMBER: _ClassVar[int]
    BOOK_STATE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    OPEN_ORDERS_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    BATCH_ACKS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPLAY_DONE_FIELD_NUMBER: _ClassVar[int]
    mid: str
    seq: int
    run_id: str
    timestamp: int
    ticks: int
    mversion: str
    is_replay: bool
    limit_order: LimitOrder
    cancel_order: CancelOrder
    cancel_replace: CancelReplace
    cancel_all: CancelAll
    get_contracts: GetContracts
    get_book_state: GetBookState
    get_open_orders: GetOpenOrders
    batch: Batch
    message_replay: MessageReplay
    status: Status
    action_report: ActionReport
    book_top: BookTop
    book_state_snapshot: BookStateSnapshot
    open_orders_snapshot: OpenOrdersSnapshot
    contract_detail: ContractDetail
    batch_acks: BatchAcks
    heartbeat: Heartbeat
    replay_done: ReplayDone
    def __init__(self, mid: _Optional[str] = ..., seq: _Optional[int] = ..., run_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., ticks: _Optional[int] = ..., mversion: _Optional[str] = ..., is_replay: _Optional[bool] = ..., limit_order: _Optional[_Union[LimitOrder, _Mapping]] = ..., cancel_order: _Optional[_Union[CancelOrder, _Mapping]] = ..., cancel_replace: _Optional[_Union[CancelReplace, _Mapping]] = ..., cancel_all: _Optional[_Union[CancelAll, _Mapping]] = ..., get_contracts: _Optional[_Union[GetContracts, _Mapping]] = ..., get_book_state: _Optional[_Union[GetBookState, _Mapping]] = ..., get_open_orders: _Optional[_Union[GetOpenOrders, _Mapping]] = ..., batch: _Optional[_Union[Batch, _Mapping]] = ..., message_replay: _Optional[_Union[MessageReplay, _Mapping]] = ..., status: _Optional[_Union[Status, _Mapping]] = ..., action_report: _Optional[_Union[ActionReport, _Mapping]] = ..., book_top: _Optional[_Union[BookTop, _Mapping]] = ..., book_state_snapshot: _Optional[_Union[BookStateSnapshot, _Mapping]] = ..., open_orders_snapshot: _Optional[_Union[OpenOrdersSnapshot, _Mapping]] = ..., contract_detail: _Optional[_Union[ContractDetail, _Mapping]] = ..., batch_acks: _Optional[_Union[BatchAcks, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., replay_done: _Optional[_Union[ReplayDone, _Mapping]] = ...) -> None: ...

class EnvelopeHeader(_message.Message):
    __slots__ = ("mid", "seq", "run_id", "timestamp", "ticks", "mversion", "is_replay", "limit_order", "cancel_order", "cancel_replace", "cancel_all", "get_contracts", "get_book_state", "get_open_orders", "batch", "message_replay", "status", "action_report", "book_top", "book_state_snapshot", "open_orders_snapshot", "contract_detail", "batch_acks", "heartbeat", "replay_done")
    MID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    TICKS_FIELD_NUMBER: _ClassVar[int]
    MVERSION_FIELD_NUMBER: _ClassVar[int]
    IS_REPLAY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ORDER_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REPLACE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_ALL_FIELD_NUMBER: _ClassVar[int]
    GET_CONTRACTS_FIELD_NUMBER: _ClassVar[int]
    GET_BOOK_STATE_FIELD_NUMBER: _ClassVar[int]
    GET_OPEN_ORDERS_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_REPLAY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACTION_REPORT_FIELD_NUMBER: _ClassVar[int]
    BOOK_TOP_FIELD_NUMBER: _ClassVar[int]
    BOOK_STATE_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    OPEN_ORDERS_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    BATCH_ACKS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    REPLAY_DONE_FIELD_NUMBER: _ClassVar[int]
    mid: str
    seq: int
    run_id: str
    timestamp: int
    ticks: int
    mversion: str
    is_replay: bool
    limit_order: bytes
    cancel_order: bytes
    cancel_replace: bytes
    cancel_all: bytes
    get_contracts: bytes
    get_book_state: bytes
    get_open_orders: bytes
    batch: bytes
    message_replay: bytes
    status: bytes
    action_report: bytes
    book_top: bytes
    book_state_snapshot: bytes
    open_orders_snapshot: bytes
    contract_detail: bytes
    batch_acks: bytes
    heartbeat: bytes
    replay_done: bytes
    def __init__(self, mid: _Optional[str] = ..., seq: _Optional[int] = ..., run_id: _Optional[str] = ..., timestamp: _Optional[int] = ..., ticks: _Optional[int] = ..., mversion: _Optional[str] = ..., is_replay: _Optional[bool] = ..., limit_order: _Optional[bytes] = ..., cancel_order: _Optional[bytes] = ..., cancel_replace: _Optional[bytes] = ..., cancel_all: _Optional[bytes] = ..., get_contracts: _Optional[bytes] = ..., get_book_state: _Optional[bytes] = ..., get_open_orders: _Optional[bytes] = ..., batch: _Optional[bytes] = ..., message_replay: _Optional[bytes] = ..., status: _Optional[bytes] = ..., action_report: _Optional[bytes] = ..., book_top: _Optional[bytes] = ..., book_state_snapshot: _Optional[bytes] = ..., open_orders_snapshot: _Optional[bytes] = ..., contract_detail: _Optional[bytes] = ..., batch_acks: _Optional[bytes] = ..., heartbeat: _Optional[bytes] = ..., replay_done: _Optional[bytes] = ...) -> None: ...
