package testenv

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/stanza"
)

// TestStartProsody starts Prosody, logs two users in and connects a
// component, then routes a message from the component to a user.
func TestStartProsody(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{
		Users:      map[string]string{"juliet": "pw1", "romeo": "pw2"},
		Components: map[string]string{"comp.localhost": "s3cret"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	juliet := p.Login(t, ctx, "juliet", "pw1")
	romeo := p.Login(t, ctx, "romeo", "pw2")
	if juliet.LocalAddr().Bare().String() != "juliet@localhost" || romeo.LocalAddr().Resourcepart() == "" {
		t.Fatalf("bound %s and %s", juliet.LocalAddr(), romeo.LocalAddr())
	}
	comp := p.Component(t, ctx, "comp.localhost", "s3cret")
	go comp.Serve(nil)

	got := make(chan string, 1)
	go juliet.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local == "message" {
			for _, a := range start.Attr {
				if a.Name.Local == "from" {
					got <- a.Value
				}
			}
		}
		return nil
	}))
	err := comp.Send(ctx, stanza.Message{To: juliet.LocalAddr().Bare(), From: comp.LocalAddr(), Type: stanza.ChatMessage}.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData("hi")), xml.StartElement{Name: xml.Name{Local: "body"}})))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case from := <-got:
		if from != "comp.localhost" {
			t.Fatalf("message from %q", from)
		}
	case <-ctx.Done():
		t.Fatalf("message not delivered\n%s", p.Log())
	}
}

func TestProsodyConfig(t *testing.T) {
	cfg := prosodyConfig("/tmp/x", ProsodyOptions{VHost: "example.net", Components: map[string]string{"b.example.net": `q"uote`}}, 5222, 5347)
	for _, want := range []string{`c2s_ports = { 5222 }`, `component_ports = { 5347 }`, `VirtualHost "example.net"`, `Component "b.example.net"`, `component_secret = "q\"uote"`} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %s:\n%s", want, cfg)
		}
	}
}

func TestLuaString(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:     `"plain"`,
		`q"uote`:    `"q\"uote"`,
		`back\sl`:   `"back\\sl"`,
		"new\nline": `"new\010line"`,
		"jüliet":    `"jüliet"`,
	} {
		if got := luaString(in); got != want {
			t.Errorf("luaString(%q) = %s, want %s", in, got, want)
		}
	}
}
