package uring

// Op is an io_uring opcode (enum io_uring_op).
type Op uint8

// Opcodes this package prepares or that callers commonly probe for.
const (
	OpNop         Op = 0
	OpReadv       Op = 1
	OpWritev      Op = 2
	OpReadFixed   Op = 4
	OpWriteFixed  Op = 5
	OpPollAdd     Op = 6
	OpSendmsg     Op = 9
	OpRecvmsg     Op = 10
	OpTimeout     Op = 11
	OpAccept      Op = 13
	OpAsyncCancel Op = 14
	OpLinkTimeout Op = 15
	OpConnect     Op = 16
	OpClose       Op = 19
	OpRead        Op = 22
	OpWrite       Op = 23
	OpSend        Op = 26
	OpRecv        Op = 27
	OpShutdown    Op = 34
	OpSendZC      Op = 47
	OpSendmsgZC   Op = 48
)

// SQEFlag is a bit of SQE.Flags (IOSQE_*).
type SQEFlag uint8

// Submission flags.
const (
	// SQEFixedFile: SQE.Fd is an index into the registered file table.
	SQEFixedFile SQEFlag = 1 << 0
	// SQEIODrain: start only after every earlier SQE has completed.
	SQEIODrain SQEFlag = 1 << 1
	// SQEIOLink: the next SQE starts only after this one succeeds; a failure
	// (including a short transfer) cancels the rest of the chain.
	SQEIOLink SQEFlag = 1 << 2
	// SQEIOHardlink: like SQEIOLink but the chain goes on after a failure.
	SQEIOHardlink SQEFlag = 1 << 3
	// SQEAsync: skip the inline attempt and go straight to the worker pool.
	SQEAsync SQEFlag = 1 << 4
	// SQEBufferSelect: take the buffer from the provided-buffer group in
	// SQE.BufIndex.
	SQEBufferSelect SQEFlag = 1 << 5
	// SQECQESkipSuccess: post no CQE when the operation succeeds.
	SQECQESkipSuccess SQEFlag = 1 << 6
)

// Completion flags (CQE.Flags, IORING_CQE_F_*).
const (
	// CQEFBuffer: the upper 16 bits of Flags hold the provided buffer's id.
	CQEFBuffer uint32 = 1 << 0
	// CQEFMore: the same SQE will post more CQEs (multishot, or a SEND_ZC
	// notification still to come).
	CQEFMore uint32 = 1 << 1
	// CQEFSockNonempty: the socket had more data after this receive.
	CQEFSockNonempty uint32 = 1 << 2
	// CQEFNotif: a SEND_ZC notification: the kernel no longer uses the buffer.
	CQEFNotif uint32 = 1 << 3

	cqeBufferShift = 16
)

// Setup flags (IORING_SETUP_*), as reported by Ring.Flags.
const (
	SetupIOPoll       uint32 = 1 << 0
	SetupSQPoll       uint32 = 1 << 1
	SetupSQAff        uint32 = 1 << 2
	SetupCQSize       uint32 = 1 << 3
	SetupClamp        uint32 = 1 << 4
	SetupSubmitAll    uint32 = 1 << 7
	SetupCoopTaskrun  uint32 = 1 << 8
	SetupTaskrunFlag  uint32 = 1 << 9
	SetupSQE128       uint32 = 1 << 10
	SetupCQE32        uint32 = 1 << 11
	SetupSingleIssuer uint32 = 1 << 12
	SetupDeferTaskrun uint32 = 1 << 13
)

// Feature flags (IORING_FEAT_*), as reported by Ring.Features.
const (
	FeatSingleMmap   uint32 = 1 << 0
	FeatNoDrop       uint32 = 1 << 1
	FeatSubmitStable uint32 = 1 << 2
	FeatFastPoll     uint32 = 1 << 5
	FeatExtArg       uint32 = 1 << 8
	FeatNativeWorker uint32 = 1 << 9
	FeatCQESkip      uint32 = 1 << 11
)

// Cancel flags for PrepCancel and PrepCancelFD (IORING_ASYNC_CANCEL_*).
const (
	// CancelAll cancels every matching request, not only the first.
	CancelAll uint32 = 1 << 0
	cancelFD  uint32 = 1 << 1
	// CancelAny matches every request on the ring.
	CancelAny uint32 = 1 << 2
	// CancelFDFixed: the fd given to PrepCancelFD is a registered file index.
	CancelFDFixed uint32 = 1 << 3
)

// Timeout flags for PrepTimeout and PrepLinkTimeout (IORING_TIMEOUT_*).
const (
	TimeoutAbs          uint32 = 1 << 0
	TimeoutBoottime     uint32 = 1 << 2
	TimeoutRealtime     uint32 = 1 << 3
	TimeoutETimeSuccess uint32 = 1 << 5
)

// Send and receive flags carried in SQE.IOPrio (IORING_RECVSEND_*).
const (
	// RecvSendPollFirst arms poll before the first transfer attempt.
	RecvSendPollFirst uint16 = 1 << 0
	recvMultishot     uint16 = 1 << 1
	recvSendFixedBuf  uint16 = 1 << 2
	// SendZCReportUsage makes the notification CQE say whether the kernel
	// had to copy after all (NotifUsageZCCopied in Res).
	SendZCReportUsage uint16 = 1 << 3
)

// NotifUsageZCCopied is set in a notification CQE's Res when
// SendZCReportUsage was asked for and the data was copied.
const NotifUsageZCCopied int32 = -1 << 31

// io_uring_enter flags.
const (
	enterGetEvents = 1 << 0
	enterSQWakeup  = 1 << 1
	enterSQWait    = 1 << 2
	enterExtArg    = 1 << 3
)

// sq_ring->flags bits.
const (
	sqNeedWakeup = 1 << 0
	sqCQOverflow = 1 << 1
	sqTaskrun    = 1 << 2
)

// io_uring_register opcodes.
const (
	regBuffers         = 0
	regUnbuffers       = 1
	regFiles           = 2
	regUnfiles         = 3
	regEventfd         = 4
	regUneventfd       = 5
	regFilesUpdate     = 6
	regProbe           = 8
	regFiles2          = 13
	regBuffers2        = 15
	regBuffersUpdate   = 16
	regPbufRing        = 22
	regUnpbufRing      = 23
	rsrcRegisterSparse = 1 << 0
)

// mmap offsets.
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)
