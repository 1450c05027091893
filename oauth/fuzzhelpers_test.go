package oauth

import (
	"encoding/xml"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

type xmlEncoder = xmlstream.Encoder

func innerElement(r xml.TokenReader) xml.TokenReader { return xmlstream.InnerElement(r) }

func newFuzzMux(v *Verifier, rec *recorder) *mux.ServeMux {
	return mux.New(stanza.NSClient,
		mux.IQ(stanza.SetIQ, xml.Name{}, v.IQ(rec)),
		mux.Message(stanza.ChatMessage, xml.Name{}, v.Message(rec)),
	)
}
