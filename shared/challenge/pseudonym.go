package challenge

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net"
)

// TruncateIP drops the host part of an address: IPv4 to its /24, IPv6 to its /48. A nil
// or invalid address gives nil.
func TruncateIP(ip net.IP) net.IP {
	if v4 := ip.To4(); v4 != nil {
		return v4.Mask(net.CIDRMask(24, 32))
	}
	if len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(48, 128))
	}
	return nil
}

// Pseudonym is the answerer id in answers-queue messages: HMAC-SHA256 keyed with the
// day's salt over the truncated address and the user agent. It is stable for one day and
// one network/browser, cannot be reversed once the salt is destroyed, and holds neither
// the address nor the user agent.
func Pseudonym(salt []byte, ip net.IP, userAgent string) string {
	m := hmac.New(sha256.New, salt)
	if t := TruncateIP(ip); t != nil {
		m.Write([]byte(t.String()))
	}
	m.Write([]byte{0})
	m.Write([]byte(userAgent))
	return hex.EncodeToString(m.Sum(nil))
}
