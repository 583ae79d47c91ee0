#!/usr/bin/python3
"""The GStreamer baseline's WebRTC sender for tether-bench: one webrtcbin sending H.264.

    /usr/bin/python3 webrtc_sender.py "ximagesrc ... ! openh264enc ... ! rtph264pay ... ! caps"

The argument is everything up to the RTP caps; the script adds `! webrtcbin`, offers (send
only), and exchanges SDP and candidates as JSON lines: it prints
{"type": "offer", "sdp": ...} and {"type": "candidate", "candidate": ..., "sdpMLineIndex": N}
on stdout and reads {"type": "answer", "sdp": ...} and candidates from stdin. Only loopback is
gathered (the bench's traffic stays on 127.0.0.1). Errors go to stdout as
{"type": "error", "message": ...}; the script ends on stdin's end or on a pipeline error.
Needs Debian's python3-gi, gir1.2-gstreamer-1.0, gir1.2-gst-plugins-base-1.0,
gir1.2-gst-plugins-bad-1.0 and gir1.2-nice-0.1 (run it with /usr/bin/python3).
"""
import json
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402


def emit(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def is_loopback(candidate):
    parts = candidate.split()
    return len(parts) > 4 and (parts[4].startswith("127.") or parts[4] == "::1")


class Sender:
    def __init__(self, description, loop):
        self.loop = loop
        self.pipeline = Gst.parse_launch(
            description + " ! webrtcbin name=webrtc bundle-policy=max-bundle"
        )
        self.webrtc = self.pipeline.get_by_name("webrtc")
        # Kept: asking webrtcbin for its agent again returns nothing in 1.22's bindings.
        self.ice = self.webrtc.get_property("ice-agent")
        self.ice.set_property("ice-tcp", False)
        address = Nice.Address.new()
        address.set_from_string("127.0.0.1")
        self.ice.get_property("agent").add_local_address(address)
        self.webrtc.connect("on-negotiation-needed", self.on_negotiation_needed)
        self.webrtc.connect("on-ice-candidate", self.on_ice_candidate)
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self.on_error)
        bus.connect("message::eos", lambda *_: self.loop.quit())

    def start(self):
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            emit({"type": "error", "message": "the pipeline did not start"})
            self.loop.quit()
            return
        transceiver = self.webrtc.emit("get-transceiver", 0)
        if transceiver is not None:
            transceiver.set_property(
                "direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY
            )

    def on_error(self, _bus, message):
        err, debug = message.parse_error()
        emit({"type": "error", "message": f"{err.message} ({debug})"})
        self.loop.quit()

    def on_negotiation_needed(self, _element):
        promise = Gst.Promise.new_with_change_func(self.on_offer_created, None)
        self.webrtc.emit("create-offer", None, promise)

    def on_offer_created(self, promise, _data):
        # The reply is kept while the offer is used: the offer points into it.
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        sdp = offer.sdp.as_text()
        self.webrtc.emit("set-local-description", offer, None)
        emit({"type": "offer", "sdp": sdp})

    def on_ice_candidate(self, _element, mline, candidate):
        if is_loopback(candidate):
            emit({"type": "candidate", "candidate": candidate, "sdpMLineIndex": mline})

    def on_line(self, line):
        try:
            msg = json.loads(line)
        except ValueError:
            return False
        if msg.get("type") == "answer":
            ok, sdp = GstSdp.SDPMessage.new_from_text(msg["sdp"])
            if ok != GstSdp.SDPResult.OK:
                emit({"type": "error", "message": "the answer's SDP does not parse"})
                return False
            answer = GstWebRTC.WebRTCSessionDescription.new(
                GstWebRTC.WebRTCSDPType.ANSWER, sdp
            )
            self.webrtc.emit("set-remote-description", answer, None)
        elif msg.get("type") == "candidate" and msg.get("candidate"):
            self.webrtc.emit(
                "add-ice-candidate", int(msg.get("sdpMLineIndex") or 0), msg["candidate"]
            )
        return False

    def stop(self):
        self.pipeline.set_state(Gst.State.NULL)


def main():
    if len(sys.argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    Gst.init(None)
    loop = GLib.MainLoop()
    try:
        sender = Sender(sys.argv[1], loop)
    except GLib.Error as err:
        emit({"type": "error", "message": f"cannot build the pipeline: {err.message}"})
        return 1

    def read_stdin():
        for line in sys.stdin:
            GLib.idle_add(sender.on_line, line)
        GLib.idle_add(loop.quit)

    threading.Thread(target=read_stdin, daemon=True).start()
    sender.start()
    loop.run()
    sender.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
