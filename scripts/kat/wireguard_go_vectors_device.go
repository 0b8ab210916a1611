//go:build ignore

// This file runs inside a temporary copy of wireguard-go's device package, where
// wireguard_go_vectors.go puts it (see there); it is not a program of its own. It drives two
// wireguard-go devices through a handshake under load (initiation, cookie reply, initiation with
// MAC2, response) and a few transport messages, with every random or time-dependent input fixed,
// and prints what went on the wire as JSON.

package device

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.zx2c4.com/wireguard/conn/bindtest"
	"golang.zx2c4.com/wireguard/tai64n"
	"golang.zx2c4.com/wireguard/tun/tuntest"
)

// katRandom is what the patched rand.Read calls hand out, in order.
var katRandom [][]byte

// katRandRead stands in for crypto/rand's Read. A length that does not match the next queued
// input means wireguard-go's call order is not what this file expects: fail rather than guess.
func katRandRead(b []byte) (int, error) {
	if len(katRandom) == 0 {
		panic(fmt.Sprintf("unexpected rand.Read of %d bytes", len(b)))
	}
	next := katRandom[0]
	katRandom = katRandom[1:]
	if len(next) != len(b) {
		panic(fmt.Sprintf("rand.Read of %d bytes, but %d were queued", len(b), len(next)))
	}
	return copy(b, next), nil
}

// katExpect queues the random inputs of one step, checking the previous step used all of its own.
func katExpect(inputs ...[]byte) {
	if len(katRandom) != 0 {
		panic(fmt.Sprintf("%d queued random inputs were not used", len(katRandom)))
	}
	katRandom = inputs
}

// katBytes is a fixed stand-in for n random bytes, different for every label.
func katBytes(label string, n int) []byte {
	sum := sha256.Sum256([]byte("weft wireguard-go known answers: " + label))
	return sum[:n]
}

func katPrivate(label string) (sk NoisePrivateKey) {
	copy(sk[:], katBytes(label, 32))
	sk.clamp() // stored clamped, so the JSON holds the scalar actually used
	return sk
}

func katHex(b []byte) string { return hex.EncodeToString(b) }

// katWire serializes a message exactly as send.go does.
func katWire(msg any) []byte {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, msg); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// katParse parses a message exactly as receive.go does.
func katParse(b []byte, msg any) {
	if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, msg); err != nil {
		panic(err)
	}
}

// katUDP is an IPv4/UDP packet (port 9000 to 9000) whose length is not a multiple of 16.
func katUDP(src, dst [4]byte, payload string) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8] = 64
	p[9] = 17
	copy(p[12:], src[:])
	copy(p[16:], dst[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], 9000)
	binary.BigEndian.PutUint16(p[22:], 9000)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload) // UDP checksum 0: none, allowed over IPv4
	return p
}

type katKeys struct {
	PrivateKey string `json:"privateKey"`
	PublicKey  string `json:"publicKey"`
}

type katInitiation struct {
	EphemeralPrivateKey string `json:"ephemeralPrivateKey"`
	UnixMs              int64  `json:"unixMs"`
	Timestamp           string `json:"timestamp"`
	SenderIndex         uint32 `json:"senderIndex"`
	Message             string `json:"message"`
}

type katCookieReply struct {
	Source  string `json:"source"`
	Secret  string `json:"secret"`
	Nonce   string `json:"nonce"`
	Cookie  string `json:"cookie"`
	Message string `json:"message"`
}

type katResponse struct {
	EphemeralPrivateKey string `json:"ephemeralPrivateKey"`
	SenderIndex         uint32 `json:"senderIndex"`
	Message             string `json:"message"`
}

type katTransport struct {
	From      string `json:"from"`
	Counter   uint64 `json:"counter"`
	Plaintext string `json:"plaintext"`
	Message   string `json:"message"`
}

type katCase struct {
	Name                 string         `json:"name"`
	Initiator            katKeys        `json:"initiator"`
	Responder            katKeys        `json:"responder"`
	PresharedKey         string         `json:"presharedKey"`
	Initiation           katInitiation  `json:"initiation"`
	CookieReply          katCookieReply `json:"cookieReply"`
	InitiationWithCookie katInitiation  `json:"initiationWithCookie"`
	Response             katResponse    `json:"response"`
	InitiatorSendKey     string         `json:"initiatorSendKey"`
	InitiatorReceiveKey  string         `json:"initiatorReceiveKey"`
	Transport            []katTransport `json:"transport"`
}

type katFile struct {
	Comment string    `json:"comment"`
	Mtu     int       `json:"mtu"`
	Cases   []katCase `json:"cases"`
}

// The responder binds cookies to the initiator's source in its own encoding (never sent): these
// are the bytes weft's sourceBytes makes for the initiator at 192.0.2.1:51820.
var katSource = []byte("192.0.2.1|51820")

// katDevice is a device that is never brought up (no sockets, no timers firing) with one
// running peer, configured through the UAPI as wg(8) would.
func katDevice(sk NoisePrivateKey, peer NoisePublicKey, psk NoisePresharedKey, allowed string) (*Device, *Peer) {
	dev := NewDevice(tuntest.NewChannelTUN().TUN(), bindtest.NewChannelBinds()[0], NewLogger(LogLevelSilent, ""))
	conf := fmt.Sprintf("private_key=%s\npublic_key=%s\npreshared_key=%s\nallowed_ip=%s\n",
		katHex(sk[:]), katHex(peer[:]), katHex(psk[:]), allowed)
	if err := dev.IpcSet(conf); err != nil {
		panic(err)
	}
	p := dev.LookupPeer(peer)
	p.Start()
	return dev, p
}

// katInitiate makes an initiation as SendHandshakeInitiation does: create, serialize, add MACs.
func katInitiate(dev *Device, peer *Peer, label string, unixMs int64) katInitiation {
	eph := katPrivate(label + " ephemeral")
	katExpect(eph[:], katBytes(label+" index", 4)) // the ephemeral is drawn before the index
	tai64n.Clock = func() time.Time { return time.UnixMilli(unixMs) }
	msg, err := dev.CreateMessageInitiation(peer)
	if err != nil {
		panic(err)
	}
	katExpect()
	packet := katWire(msg)
	peer.cookieGenerator.AddMacs(packet)
	ts := tai64n.Now()
	return katInitiation{katHex(eph[:]), unixMs, katHex(ts[:]), msg.Sender, katHex(packet)}
}

// katSeal encrypts one transport message with RoutineEncryption, the worker the device runs: it
// writes the header, pads and seals. A nil packet is a keepalive, as SendKeepalive makes it.
func katSeal(dev *Device, kp *Keypair, from string, counter uint64, packet []byte) katTransport {
	elem := dev.NewOutboundElement()
	if packet != nil {
		elem.packet = elem.buffer[MessageTransportHeaderSize : MessageTransportHeaderSize+len(packet)]
		copy(elem.packet, packet)
	}
	elem.nonce = counter
	elem.keypair = kp
	elem.Lock()
	dev.queue.encryption.c <- elem
	elem.Lock() // the worker unlocks it once sealed
	msg := append([]byte(nil), elem.packet...)
	return katTransport{from, counter, katHex(packet), katHex(msg)}
}

// katOpen checks the other side decrypts a transport message back to its plaintext.
func katOpen(kp *Keypair, t katTransport) {
	msg, _ := hex.DecodeString(t.Message)
	var nonce [chacha20poly1305.NonceSize]byte
	copy(nonce[4:], msg[8:16])
	plain, err := kp.receive.Open(nil, nonce[:], msg[MessageTransportHeaderSize:], nil)
	want, _ := hex.DecodeString(t.Plaintext)
	if err != nil || !bytes.HasPrefix(plain, want) {
		panic(fmt.Sprintf("transport from %s at %d does not open", t.From, t.Counter))
	}
}

// katSessionKeys derives the transport keys BeginSymmetricSession is about to make, so the JSON
// can name them (the keypair only holds AEAD instances).
func katSessionKeys(h *Handshake) (first, second [32]byte) {
	KDF2(&first, &second, h.chainKey[:], nil)
	return
}

func katRun(name string, withPSK bool) katCase {
	label := func(s string) string { return name + " " + s }
	iPriv, rPriv := katPrivate(label("initiator static")), katPrivate(label("responder static"))
	iPub, rPub := iPriv.publicKey(), rPriv.publicKey()
	var psk NoisePresharedKey
	if withPSK {
		copy(psk[:], katBytes(label("preshared key"), 32))
	}
	devA, peerB := katDevice(iPriv, rPub, psk, "10.0.0.2/32")
	devB, peerA := katDevice(rPriv, iPub, psk, "10.0.0.1/32")
	defer devA.Close()
	defer devB.Close()

	// The responder is under load: it answers the first initiation with a cookie reply.
	init1 := katInitiate(devA, peerB, label("initiation"), 1_700_000_000_123)
	init1Bytes, _ := hex.DecodeString(init1.Message)
	secret, nonce := katBytes(label("cookie secret"), 32), katBytes(label("cookie nonce"), 24)
	katExpect(secret, nonce)
	reply, err := devB.cookieChecker.CreateReply(init1Bytes, init1.SenderIndex, katSource)
	if err != nil {
		panic(err)
	}
	katExpect()
	replyBytes := katWire(reply)
	var parsedReply MessageCookieReply
	katParse(replyBytes, &parsedReply)
	if !peerB.cookieGenerator.ConsumeReply(&parsedReply) {
		panic("cookie reply not accepted")
	}
	cookie := peerB.cookieGenerator.mac2.cookie

	// The retry, a rekey timeout later, carries MAC2.
	init2 := katInitiate(devA, peerB, label("initiation with cookie"), 1_700_000_005_250)
	init2Bytes, _ := hex.DecodeString(init2.Message)
	if !devB.cookieChecker.CheckMAC1(init2Bytes) || !devB.cookieChecker.CheckMAC2(init2Bytes, katSource) {
		panic("initiation MACs do not verify")
	}
	var parsedInit MessageInitiation
	katParse(init2Bytes, &parsedInit)
	if devB.ConsumeMessageInitiation(&parsedInit) != peerA {
		panic("initiation not consumed")
	}
	rEph := katPrivate(label("response ephemeral"))
	katExpect(katBytes(label("response index"), 4), rEph[:]) // the index is drawn first here
	resp, err := devB.CreateMessageResponse(peerA)
	if err != nil {
		panic(err)
	}
	katExpect()
	respBytes := katWire(resp)
	peerA.cookieGenerator.AddMacs(respBytes)
	rRecv, rSend := katSessionKeys(&peerA.handshake)
	if err := peerA.BeginSymmetricSession(); err != nil {
		panic(err)
	}

	var parsedResp MessageResponse
	katParse(respBytes, &parsedResp)
	if devA.ConsumeMessageResponse(&parsedResp) != peerB {
		panic("response not consumed")
	}
	iSend, iRecv := katSessionKeys(&peerB.handshake)
	if iSend != rRecv || iRecv != rSend {
		panic("the two sides derived different keys")
	}
	if err := peerB.BeginSymmetricSession(); err != nil {
		panic(err)
	}

	// The initiator's keepalive confirming the session, its first data, a counter using both
	// 32-bit halves of the nonce, then the responder's first data.
	kpA, kpB := peerB.keypairs.Current(), peerA.keypairs.loadNext()
	a, b := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}
	transport := []katTransport{
		katSeal(devA, kpA, "initiator", 0, nil),
		katSeal(devA, kpA, "initiator", 1, katUDP(a, b, "weft known-answer test")),
		katSeal(devA, kpA, "initiator", 1<<32+2, katUDP(a, b, "counter past 2^32")),
		katSeal(devB, kpB, "responder", 0, katUDP(b, a, "the responder's first data")),
	}
	for _, t := range transport {
		if t.From == "initiator" {
			katOpen(kpB, t)
		} else {
			katOpen(kpA, t)
		}
	}

	return katCase{
		Name:         name,
		Initiator:    katKeys{katHex(iPriv[:]), katHex(iPub[:])},
		Responder:    katKeys{katHex(rPriv[:]), katHex(rPub[:])},
		PresharedKey: katHex(psk[:]),
		Initiation:   init1,
		CookieReply: katCookieReply{
			katHex(katSource), katHex(secret), katHex(nonce), katHex(cookie[:]), katHex(replyBytes),
		},
		InitiationWithCookie: init2,
		Response:             katResponse{katHex(rEph[:]), resp.Sender, katHex(respBytes)},
		InitiatorSendKey:     katHex(iSend[:]),
		InitiatorReceiveKey:  katHex(iRecv[:]),
		Transport:            transport,
	}
}

// WeftKnownAnswers runs both cases and returns the JSON.
func WeftKnownAnswers() []byte {
	file := katFile{
		Comment: "Made by scripts/kat/wireguard_go_vectors.go from wireguard-go's device package; do not edit.",
		Mtu:     tuntest.DefaultMTU,
		Cases:   []katCase{katRun("with psk", true), katRun("without psk", false)},
	}
	out, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(out, '\n')
}
