package policy

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ---- forbidden_ports / allowed_ports ----

type portPattern struct {
	lo, hi int
	proto  string // "" matches any protocol
}

var portProtocols = map[string]bool{"tcp": true, "udp": true, "sctp": true}

func parsePortPattern(s string) (portPattern, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	num, proto, hasProto := strings.Cut(s, "/")
	if hasProto && !portProtocols[proto] {
		return portPattern{}, fmt.Errorf("%q: protocol %q is not tcp, udp or sctp", s, proto)
	}
	loS, hiS, isRange := strings.Cut(num, "-")
	lo, err := strconv.Atoi(loS)
	if err != nil || lo < 1 || lo > 65535 {
		return portPattern{}, fmt.Errorf("%q is not a port: write \"22\", \"22/tcp\" or a range \"8000-8100\"", s)
	}
	hi := lo
	if isRange {
		hi, err = strconv.Atoi(hiS)
		if err != nil || hi < lo || hi > 65535 {
			return portPattern{}, fmt.Errorf("%q is not a port range: write low-high with 1 <= low <= high <= 65535", s)
		}
	}
	return portPattern{lo: lo, hi: hi, proto: proto}, nil
}

// normalizePort reads an exposed port: "22" is "22/tcp".
func normalizePort(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.Contains(s, "/") {
		return s + "/tcp"
	}
	return s
}

func (p portPattern) matches(exposed string) bool {
	num, proto, _ := strings.Cut(normalizePort(exposed), "/")
	n, err := strconv.Atoi(num)
	if err != nil {
		return false
	}
	return n >= p.lo && n <= p.hi && (p.proto == "" || p.proto == proto)
}

func matchAnyPort(patterns []string, exposed string) (string, bool) {
	for _, raw := range patterns {
		if p, err := parsePortPattern(raw); err == nil && p.matches(exposed) {
			return raw, true
		}
	}
	return "", false
}

func checkPorts(facts ImageFacts, rules Rules, add func(Violation)) {
	ports := make([]string, 0, len(facts.ExposedPorts))
	seen := map[string]bool{}
	for _, p := range facts.ExposedPorts {
		n := normalizePort(p)
		if !seen[n] {
			seen[n] = true
			ports = append(ports, n)
		}
	}
	sort.Strings(ports)
	for _, port := range ports {
		if len(rules.ForbiddenPorts) > 0 {
			if pat, ok := matchAnyPort(rules.ForbiddenPorts, port); ok {
				add(Violation{
					Rule:     RuleForbiddenPorts,
					Subject:  port,
					Found:    fmt.Sprintf("exposes port %s (forbidden by %q)", port, pat),
					Requires: "no exposed port matching forbidden_ports: " + quoteList(rules.ForbiddenPorts),
					Fix:      fmt.Sprintf("remove `EXPOSE %s` from the Dockerfile and the service behind it", port),
				})
			}
		}
		if len(rules.AllowedPorts) > 0 {
			if _, ok := matchAnyPort(rules.AllowedPorts, port); !ok {
				add(Violation{
					Rule:     RuleAllowedPorts,
					Subject:  port,
					Found:    fmt.Sprintf("exposes port %s, which allowed_ports does not list", port),
					Requires: "only exposed ports matching allowed_ports: " + quoteList(rules.AllowedPorts),
					Fix:      fmt.Sprintf("remove `EXPOSE %s` from the Dockerfile, or add it to allowed_ports", port),
				})
			}
		}
	}
}
