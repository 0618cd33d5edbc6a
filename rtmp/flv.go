package rtmp

// Media facts read straight from the first bytes of an FLV audio or video tag
// body (the RTMP audio/video message payload), without decoding any media.
// Both the legacy FLV layout and enhanced RTMP (v1/v2 "ExHeader" with a
// FourCC) are understood, so HEVC, AV1 and VP9 pass through as H.264 does.

// FLV video codec ids of the legacy header (low nibble of byte 0).
const (
	flvCodecAVC  = 7
	flvCodecHEVC = 12 // non-standard but widespread (Chinese CDNs, OBS forks)
	flvCodecAV1  = 13 // likewise
)

// Legacy FLV sound format (high nibble of audio byte 0).
const (
	flvSoundAAC      = 10
	flvSoundExHeader = 9 // enhanced RTMP v2: FourCC follows
)

// Enhanced RTMP packet types (low nibble of byte 0 when IsExHeader is set).
const (
	exPacketSequenceStart = 0
	exPacketCodedFrames   = 1
	exPacketCodedFramesX  = 3
	exPacketMultitrack    = 6
)

const (
	videoFrameKey = 1
	exHeaderBit   = 0x80
)

// IsExVideo reports whether a video payload uses the enhanced RTMP header.
func IsExVideo(p []byte) bool { return len(p) > 0 && p[0]&exHeaderBit != 0 }

// videoFrameType is the frame type nibble in both layouts (legacy uses all
// four bits, enhanced the three below IsExHeader).
func videoFrameType(p []byte) byte {
	if IsExVideo(p) {
		return (p[0] >> 4) & 0x07
	}
	return p[0] >> 4
}

// IsKeyframe reports whether a video payload is a keyframe (a point a player
// can start decoding from). Sequence headers are not keyframes.
func IsKeyframe(p []byte) bool {
	if len(p) < 2 || videoFrameType(p) != videoFrameKey {
		return false
	}
	if IsExVideo(p) {
		switch p[0] & 0x0f {
		case exPacketCodedFrames, exPacketCodedFramesX, exPacketMultitrack:
			return true
		}
		return false
	}
	switch p[0] & 0x0f {
	case flvCodecAVC, flvCodecHEVC, flvCodecAV1:
		return p[1] == 1 // NALU; 0 is the sequence header, 2 end of sequence
	}
	return true
}

// IsVideoSequenceHeader reports whether a video payload carries the decoder
// configuration (AVC/HEVC/AV1 sequence header, or enhanced SequenceStart).
func IsVideoSequenceHeader(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	if IsExVideo(p) {
		return p[0]&0x0f == exPacketSequenceStart && len(p) >= 5
	}
	switch p[0] & 0x0f {
	case flvCodecAVC, flvCodecHEVC, flvCodecAV1:
		return p[0]>>4 == videoFrameKey && p[1] == 0
	}
	return false
}

// IsAudioSequenceHeader reports whether an audio payload carries the decoder
// configuration (AAC AudioSpecificConfig, or enhanced SequenceStart).
func IsAudioSequenceHeader(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch p[0] >> 4 {
	case flvSoundAAC:
		return p[1] == 0
	case flvSoundExHeader:
		return p[0]&0x0f == exPacketSequenceStart && len(p) >= 5
	}
	return false
}

// IsSequenceHeader reports whether an audio or video message carries decoder
// configuration that every joining player must receive first.
func IsSequenceHeader(typ uint8, p []byte) bool {
	switch typ {
	case TypeVideo:
		return IsVideoSequenceHeader(p)
	case TypeAudio:
		return IsAudioSequenceHeader(p)
	}
	return false
}

// VideoCodec names the codec of a video payload: "avc", "hevc", "av1",
// "vp9", another FourCC as is, or "" when unknown.
func VideoCodec(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	if IsExVideo(p) {
		if len(p) < 5 {
			return ""
		}
		switch string(p[1:5]) {
		case "avc1":
			return "avc"
		case "hvc1":
			return "hevc"
		case "av01":
			return "av1"
		case "vp09":
			return "vp9"
		}
		return string(p[1:5])
	}
	switch p[0] & 0x0f {
	case flvCodecAVC:
		return "avc"
	case flvCodecHEVC:
		return "hevc"
	case flvCodecAV1:
		return "av1"
	case 2:
		return "h263"
	case 4:
		return "vp6"
	}
	return ""
}

// AudioCodec names the codec of an audio payload: "aac", "mp3", "opus", …
func AudioCodec(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	switch p[0] >> 4 {
	case flvSoundAAC:
		return "aac"
	case 2, 14:
		return "mp3"
	case 11:
		return "speex"
	case 7:
		return "pcma"
	case 8:
		return "pcmu"
	case flvSoundExHeader:
		if len(p) < 5 {
			return ""
		}
		switch string(p[1:5]) {
		case "Opus":
			return "opus"
		case "mp4a":
			return "aac"
		case ".mp3":
			return "mp3"
		case "fLaC":
			return "flac"
		case "ac-3":
			return "ac3"
		case "ec-3":
			return "eac3"
		}
		return string(p[1:5])
	}
	return ""
}
