"""Packet-level ns-3 reference figures for netsim's flow-level TCP model.

Why this exists: netsim models TCP at flow level (slow start, receive-window cap, per-round RTT);
``splitbench validate`` requires that model to stay within 10% of a packet-level simulator on a fixed case
list. This script runs that case list in ns-3 and writes ``ns3_results.json`` next to it.

It is a standalone tool: nothing in splitbench imports it, and ns-3 is not a splitbench dependency.
Run it with a Python that has the ``ns3`` wheel installed (see README.md in this folder)::

    python3.11 -m venv .ns3venv && .ns3venv/bin/pip install ns3==3.44.post0
    cd /tmp && /path/to/repo/.ns3venv/bin/python /path/to/repo/netsim/reference/ns3_cases.py

Topology (one fresh simulation per case): ``device ==== cloud``, a single point-to-point link whose
two NetDevices transmit at different rates (PointToPointNetDevice::DataRate is per device, i.e. per
transmit direction): the device's NetDevice sends at ``up_mbps``, the cloud's at ``down_mbps``.
The channel delay is the one-way propagation delay. Each NetDevice has a DropTail queue of 100
packets and the traffic-control layer's default FqCoDel root queue disc is uninstalled, so the
device queues are the only (drop-tail) buffers.

The application logic (request/response rounds, timestamps, retransmission and drop counters) is a
small C++ class compiled with cppyy, because ns-3 callbacks from Python are awkward and slow.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

MSS_BYTES = 1448
QUEUE_PKTS = 100
INIT_CWND_PKTS = 10
SND_BUF_BYTES = 64 * 1024 * 1024  # "large": 10 MB bulk transfers fit in the send buffer at once
MiB = 1024 * 1024

# (name, up_mbps, down_mbps, one_way_ms) — the three reference links.
LINKS: list[tuple[str, float, float, float]] = [
    ("lte", 10.0, 40.0, 25.0),
    ("5g", 50.0, 300.0, 10.0),
    ("wifi", 200.0, 400.0, 2.0),
]

# (name, up_bytes, down_bytes, compute_ms, rounds, rwnd_bytes) — the six reference exchanges.
EXCHANGES: list[tuple[str, int, int, float, int, int]] = [
    ("small", 1500, 1500, 2.0, 50, 4 * MiB),
    ("fresh-upload", 262144, 100, 0.0, 1, 4 * MiB),
    ("bulk-up-rwnd128k", 10_000_000, 100, 0.0, 1, 131072),
    ("bulk-up-rwndlarge", 10_000_000, 100, 0.0, 1, 16 * MiB),
    ("bulk-down-rwnd128k", 100, 10_000_000, 0.0, 1, 131072),
    ("bulk-down-rwndlarge", 100, 10_000_000, 0.0, 1, 16 * MiB),
]

# The default-TCP set (ns-3's own defaults: CUBIC with HyStart, SACK, PRR): the same exchanges plus
# small tokens separated by compute gaps, each with the 100-packet buffer above and a deep
# 1000-packet one (the link presets' buffer), so bulk transfers run both with and without queue losses.
DEFAULT_EXCHANGES: list[tuple[str, int, int, float, int, int]] = [
    ("small", 1500, 1500, 2.0, 50, 4 * MiB),
    ("tokens", 200, 100, 30.0, 40, 4 * MiB),
    ("fresh-upload", 262144, 100, 0.0, 1, 4 * MiB),
    ("bulk-up-rwndlarge", 10_000_000, 100, 0.0, 1, 16 * MiB),
    ("bulk-down-rwndlarge", 100, 10_000_000, 0.0, 1, 16 * MiB),
]
DEFAULT_QUEUES = (100, 1000)

CPP_SOURCE = r"""
#include "ns3/core-module.h"
#include "ns3/network-module.h"
#include "ns3/internet-module.h"
#include "ns3/point-to-point-module.h"
#include "ns3/traffic-control-module.h"
#include <sstream>

namespace splitbench_ref {
using namespace ns3;

// Counters for one direction (one TCP endpoint's transmissions).
struct DirStats {
    uint64_t dataSegments = 0;   // segments carrying payload (incl. retransmissions)
    uint64_t wireBytes = 0;      // IP bytes of those segments: payload + TCP header + 20 B IPv4
    uint64_t retransmissions = 0;
    uint64_t queueDrops = 0;     // drops at this direction's bottleneck (device queue full)
    uint64_t fastRecoveries = 0; // entries into CA_RECOVERY
    uint64_t rtoTimeouts = 0;    // entries into CA_LOSS (retransmission timeout)
    uint32_t maxCwnd = 0;        // bytes
    uint32_t firstSsthresh = 0;  // bytes; first ssthresh set by a loss (0 = never)
    uint32_t maxQueuePkts = 0;   // peak occupancy of this direction's device queue
    SequenceNumber32 highest{0};
    bool any = false;
};

// One request/response exchange over one TCP connection, driven by socket callbacks.
class Exchange {
  public:
    uint64_t upBytes, downBytes; uint32_t rounds; Time compute;
    Ptr<Socket> client, server, listener;
    uint64_t clientRx = 0, serverRx = 0; uint32_t round = 0;
    double tConnect = -1, tEstablished = -1, tFirstByte = -1, tDone = -1;
    std::vector<double> roundEnds;
    DirStats up, down;
    bool started = false;

    Exchange(uint64_t up_, uint64_t down_, double computeMs, uint32_t rounds_)
        : upBytes(up_), downBytes(down_), rounds(rounds_), compute(Seconds(computeMs / 1000.0)) {}

    void Connected(Ptr<Socket> s) {
        tEstablished = Simulator::Now().GetSeconds();
        tFirstByte = tEstablished;
        SendRequest();
    }
    void ConnectFailed(Ptr<Socket> s) { NS_FATAL_ERROR("connection failed"); }

    void SendAll(Ptr<Socket> s, uint64_t n) {
        int r = s->Send(Create<Packet>(n));
        if (r < 0 || static_cast<uint64_t>(r) != n) NS_FATAL_ERROR("send buffer too small");
    }
    void SendRequest() { SendAll(client, upBytes); }

    bool AcceptRequest(Ptr<Socket> s, const Address& from) { return true; }
    void Accepted(Ptr<Socket> s, const Address& from) {
        server = s;
        s->SetRecvCallback(MakeCallback(&Exchange::ServerRecv, this));
        Hook(s, false);
    }
    void ServerRecv(Ptr<Socket> s) {
        Ptr<Packet> p;
        while ((p = s->Recv()) && p->GetSize() > 0) serverRx += p->GetSize();
        if (serverRx > upBytes * (round + 1)) NS_FATAL_ERROR("server got more than one request");
        if (serverRx == upBytes * (round + 1)) {
            Simulator::Schedule(compute, &Exchange::SendReply, this);
        }
    }
    void SendReply() { SendAll(server, downBytes); }
    void ClientRecv(Ptr<Socket> s) {
        Ptr<Packet> p;
        while ((p = s->Recv()) && p->GetSize() > 0) clientRx += p->GetSize();
        if (clientRx > downBytes * (round + 1)) NS_FATAL_ERROR("client got more than one reply");
        if (clientRx == downBytes * (round + 1)) {
            roundEnds.push_back(Simulator::Now().GetSeconds());
            ++round;
            if (round == rounds) {
                tDone = Simulator::Now().GetSeconds();
                Simulator::Stop();  // nothing after the last reply byte matters
            } else {
                SendRequest();
            }
        }
    }
    static void CountTx(DirStats& d, Ptr<const Packet> p, const TcpHeader& h) {
        uint32_t n = p->GetSize();
        if (n == 0) return;
        d.dataSegments += 1;
        d.wireBytes += n + h.GetSerializedSize() + 20;
        SequenceNumber32 end = h.GetSequenceNumber() + n;
        if (d.any && end <= d.highest) d.retransmissions += 1;
        if (!d.any || end > d.highest) { d.highest = end; d.any = true; }
    }
    void UpTx(Ptr<const Packet> p, const TcpHeader& h, Ptr<const TcpSocketBase> s) { CountTx(up, p, h); }
    void DownTx(Ptr<const Packet> p, const TcpHeader& h, Ptr<const TcpSocketBase> s) { CountTx(down, p, h); }
    void UpQ(uint32_t o, uint32_t n) { up.maxQueuePkts = std::max(up.maxQueuePkts, n); }
    void DownQ(uint32_t o, uint32_t n) { down.maxQueuePkts = std::max(down.maxQueuePkts, n); }
    void UpDrop(Ptr<const Packet> p) { up.queueDrops += 1; }
    void DownDrop(Ptr<const Packet> p) { down.queueDrops += 1; }
    static void State(DirStats& d, TcpSocketState::TcpCongState_t o, TcpSocketState::TcpCongState_t n) {
        if (n == TcpSocketState::CA_RECOVERY && o != n) d.fastRecoveries += 1;
        if (n == TcpSocketState::CA_LOSS && o != n) d.rtoTimeouts += 1;
    }
    void UpState(TcpSocketState::TcpCongState_t o, TcpSocketState::TcpCongState_t n) { State(up, o, n); }
    void DownState(TcpSocketState::TcpCongState_t o, TcpSocketState::TcpCongState_t n) { State(down, o, n); }
    void UpCwnd(uint32_t o, uint32_t n) { up.maxCwnd = std::max(up.maxCwnd, n); }
    void DownCwnd(uint32_t o, uint32_t n) { down.maxCwnd = std::max(down.maxCwnd, n); }
    // The initial (infinite) ssthresh is traced too; only a reduction is a loss response.
    void UpSsth(uint32_t o, uint32_t n) { if (!up.firstSsthresh && n < o) up.firstSsthresh = n; }
    void DownSsth(uint32_t o, uint32_t n) { if (!down.firstSsthresh && n < o) down.firstSsthresh = n; }
    void Hook(Ptr<Socket> s, bool isUp) {
        using E = Exchange;
        bool ok = s->TraceConnectWithoutContext("Tx", MakeCallback(isUp ? &E::UpTx : &E::DownTx, this))
            && s->TraceConnectWithoutContext("CongState",
                                             MakeCallback(isUp ? &E::UpState : &E::DownState, this))
            && s->TraceConnectWithoutContext("CongestionWindow",
                                             MakeCallback(isUp ? &E::UpCwnd : &E::DownCwnd, this))
            && s->TraceConnectWithoutContext("SlowStartThreshold",
                                             MakeCallback(isUp ? &E::UpSsth : &E::DownSsth, this));
        if (!ok) NS_FATAL_ERROR("trace connect failed");
    }
};

static std::string AttrString(Ptr<Object> o, const std::string& name) {
    StringValue v;
    // GetAttribute with a StringValue serializes any attribute type to text.
    o->GetAttribute(name, v);
    return v.Get();
}

struct CaseResult {
    double handshake, completion, established, firstByte, done;
    uint64_t upSegs, upWire, upRetx, upDrops, downSegs, downWire, downRetx, downDrops;
    uint64_t upFr, upRto, downFr, downRto;
    uint32_t upMaxCwnd, upSsth, downMaxCwnd, downSsth, upMaxQ, downMaxQ;
    std::string roundEnds;     // comma separated, seconds since first request byte
    std::string socketAttrs;   // name=value;... as read back from the live client socket
    std::string queueDesc;
};

CaseResult RunCase(double upMbps, double downMbps, double oneWayMs, uint64_t upBytes, uint64_t downBytes,
                   double computeMs, uint32_t rounds, uint32_t rwndBytes, uint32_t sndBufBytes,
                   uint32_t mss, uint32_t initCwnd, uint32_t queuePkts, uint32_t delAckCount, double stopS,
                   bool newReno) {
    // newReno: TcpNewReno explicitly; otherwise ns-3's defaults are left alone (CUBIC, SACK, PRR).
    if (newReno) Config::SetDefault("ns3::TcpL4Protocol::SocketType", TypeIdValue(TcpNewReno::GetTypeId()));
    else Config::SetDefault("ns3::TcpL4Protocol::SocketType", TypeIdValue(TcpCubic::GetTypeId()));
    Config::SetDefault("ns3::TcpSocket::SegmentSize", UintegerValue(mss));
    Config::SetDefault("ns3::TcpSocket::RcvBufSize", UintegerValue(rwndBytes));
    Config::SetDefault("ns3::TcpSocket::SndBufSize", UintegerValue(sndBufBytes));
    Config::SetDefault("ns3::TcpSocket::InitialCwnd", UintegerValue(initCwnd));
    Config::SetDefault("ns3::TcpSocket::DelAckCount", UintegerValue(delAckCount));

    NodeContainer nodes;
    nodes.Create(2);  // 0 = device (client), 1 = cloud (server)
    PointToPointHelper p2p;
    std::ostringstream q; q << queuePkts << "p";
    p2p.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize", QueueSizeValue(QueueSize(q.str())));
    p2p.SetChannelAttribute("Delay", TimeValue(Seconds(oneWayMs / 1000.0)));
    NetDeviceContainer devs = p2p.Install(nodes);
    // DataRate is per NetDevice = per transmit direction: asymmetric up/down on one link.
    devs.Get(0)->SetAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(upMbps * 1e6))));
    devs.Get(1)->SetAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(downMbps * 1e6))));

    InternetStackHelper stack;
    stack.Install(nodes);
    Ipv4AddressHelper addr;
    addr.SetBase("10.1.1.0", "255.255.255.0");
    Ipv4InterfaceContainer ifs = addr.Assign(devs);
    // Address assignment installs the default FqCoDel root queue disc; remove it so the
    // 100-packet DropTail device queue is the bottleneck buffer.
    TrafficControlHelper tch;
    tch.Uninstall(devs);

    Exchange ex(upBytes, downBytes, computeMs, rounds);
    Ptr<PointToPointNetDevice> d0 = DynamicCast<PointToPointNetDevice>(devs.Get(0));
    Ptr<PointToPointNetDevice> d1 = DynamicCast<PointToPointNetDevice>(devs.Get(1));
    // Without a root queue disc, a packet meeting a full (stopped) device queue is dropped by the
    // traffic-control layer ("TcDrop" trace there); the device queue's own Drop trace covers the rest.
    bool ok = d0->GetQueue()->TraceConnectWithoutContext("Drop", MakeCallback(&Exchange::UpDrop, &ex))
        && d1->GetQueue()->TraceConnectWithoutContext("Drop", MakeCallback(&Exchange::DownDrop, &ex))
        && nodes.Get(0)->GetObject<TrafficControlLayer>()->TraceConnectWithoutContext(
               "TcDrop", MakeCallback(&Exchange::UpDrop, &ex))
        && nodes.Get(1)->GetObject<TrafficControlLayer>()->TraceConnectWithoutContext(
               "TcDrop", MakeCallback(&Exchange::DownDrop, &ex))
        && d0->GetQueue()->TraceConnectWithoutContext("PacketsInQueue", MakeCallback(&Exchange::UpQ, &ex))
        && d1->GetQueue()->TraceConnectWithoutContext("PacketsInQueue", MakeCallback(&Exchange::DownQ, &ex));
    if (!ok) NS_FATAL_ERROR("drop trace connect failed");

    uint16_t port = 5000;
    ex.listener = Socket::CreateSocket(nodes.Get(1), TcpSocketFactory::GetTypeId());
    ex.listener->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
    ex.listener->Listen();
    ex.listener->SetAcceptCallback(MakeCallback(&Exchange::AcceptRequest, &ex),
                                   MakeCallback(&Exchange::Accepted, &ex));

    ex.client = Socket::CreateSocket(nodes.Get(0), TcpSocketFactory::GetTypeId());
    ex.client->Bind();
    ex.client->SetConnectCallback(MakeCallback(&Exchange::Connected, &ex),
                                  MakeCallback(&Exchange::ConnectFailed, &ex));
    ex.client->SetRecvCallback(MakeCallback(&Exchange::ClientRecv, &ex));
    ex.Hook(ex.client, true);

    CaseResult r{};
    {
        std::ostringstream a;
        const char* names[] = {"SegmentSize", "InitialCwnd", "InitialSlowStartThreshold", "RcvBufSize",
                               "SndBufSize", "DelAckCount", "DelAckTimeout", "TcpNoDelay", "Timestamp",
                               "WindowScaling", "Sack", "MinRto", "ClockGranularity", "RecoveryType",
                               "ReTxThreshold", "LimitedTransmit", "UseEcn"};
        for (const char* n : names) {
            StringValue v;
            if (ex.client->GetAttributeFailSafe(n, v)) a << n << "=" << v.Get() << ";";
        }
        Ptr<TcpL4Protocol> l4 = nodes.Get(0)->GetObject<TcpL4Protocol>();
        for (const char* n : {"SocketType", "RecoveryType"}) {
            StringValue v;
            if (l4->GetAttributeFailSafe(n, v)) a << "TcpL4Protocol::" << n << "=" << v.Get() << ";";
        }
        r.socketAttrs = a.str();
        std::ostringstream qd;
        qd << AttrString(d0->GetQueue(), "MaxSize") << " DropTail per NetDevice; root queue disc on device: "
           << (nodes.Get(0)->GetObject<TrafficControlLayer>()->GetRootQueueDiscOnDevice(devs.Get(0))
                   ? "yes" : "none");
        r.queueDesc = qd.str();
    }

    double t0 = 0.1;
    Simulator::Schedule(Seconds(t0), [&ex, &ifs, port]() {
        ex.tConnect = Simulator::Now().GetSeconds();
        ex.client->Connect(InetSocketAddress(ifs.GetAddress(1), port));
    });
    Simulator::Stop(Seconds(stopS));
    Simulator::Run();

    if (ex.tDone < 0) NS_FATAL_ERROR("case did not finish before the stop time");
    r.handshake = ex.tEstablished - ex.tConnect;
    r.completion = ex.tDone - ex.tFirstByte;
    r.established = ex.tEstablished; r.firstByte = ex.tFirstByte; r.done = ex.tDone;
    r.upSegs = ex.up.dataSegments; r.upWire = ex.up.wireBytes; r.upRetx = ex.up.retransmissions;
    r.upDrops = ex.up.queueDrops;
    r.downSegs = ex.down.dataSegments; r.downWire = ex.down.wireBytes; r.downRetx = ex.down.retransmissions;
    r.downDrops = ex.down.queueDrops;
    r.upFr = ex.up.fastRecoveries; r.upRto = ex.up.rtoTimeouts; r.upMaxCwnd = ex.up.maxCwnd;
    r.upSsth = ex.up.firstSsthresh;
    r.downFr = ex.down.fastRecoveries; r.downRto = ex.down.rtoTimeouts; r.downMaxCwnd = ex.down.maxCwnd;
    r.downSsth = ex.down.firstSsthresh;
    r.upMaxQ = ex.up.maxQueuePkts; r.downMaxQ = ex.down.maxQueuePkts;
    std::ostringstream re; re.precision(12);
    for (size_t i = 0; i < ex.roundEnds.size(); ++i)
        re << (i ? "," : "") << (ex.roundEnds[i] - ex.tFirstByte);
    r.roundEnds = re.str();

    Simulator::Destroy();
    Ipv4AddressGenerator::Reset();  // the next case reuses 10.1.1.0/24
    return r;
}
}  // namespace splitbench_ref
"""


def load_ns3() -> tuple[Any, Any, str]:
    """Import ns-3 (via cppyy) and compile the helper; returns (ns, helper namespace, version)."""
    from importlib.metadata import version

    import cppyy
    from ns import ns  # noqa: F401  (loads the ns-3 libraries and headers into cppyy)

    cppyy.cppdef(CPP_SOURCE)
    return ns, cppyy.gbl.splitbench_ref, version("ns3")


def run_case(ref: Any, link: tuple[str, float, float, float], exch: tuple[str, int, int, float, int, int],
             del_ack_count: int = 2, queue_pkts: int = QUEUE_PKTS,
             newreno: bool = True) -> tuple[dict[str, Any], str, str]:
    """Simulate one (link, exchange) pair; returns (JSON record, socket attributes, queue description)."""
    lname, up_mbps, down_mbps, one_way_ms = link
    ename, up_b, down_b, compute_ms, rounds, rwnd = exch
    wall = time.perf_counter()
    r = ref.RunCase(up_mbps, down_mbps, one_way_ms, up_b, down_b, compute_ms, rounds, rwnd,
                    SND_BUF_BYTES, MSS_BYTES, INIT_CWND_PKTS, queue_pkts, del_ack_count, 600.0, newreno)
    wall = time.perf_counter() - wall
    round_ends = [float(x) for x in str(r.roundEnds).split(",")]
    per_round = [b - a for a, b in zip([0.0] + round_ends[:-1], round_ends, strict=True)]
    qname = "" if newreno else f"/q{queue_pkts}"
    rec: dict[str, Any] = {
        "name": f"{lname}/{ename}{qname}",
        "up_mbps": up_mbps, "down_mbps": down_mbps, "one_way_ms": one_way_ms,
        "up_bytes": up_b, "down_bytes": down_b, "compute_ms": compute_ms, "rounds": rounds,
        "rwnd_bytes": rwnd, "queue_pkts": queue_pkts,
        "completion_s": round(float(r.completion), 9),
        "handshake_s": round(float(r.handshake), 9),
        "per_round_first_s": round(per_round[0], 9),
        "per_round_mean_after_first_s": (round(sum(per_round[1:]) / (len(per_round) - 1), 9)
                                         if rounds > 1 else None),
    }
    for d in ("up", "down"):
        rec[f"{d}_data_segments"] = int(getattr(r, f"{d}Segs"))
        rec[f"{d}_wire_bytes"] = int(getattr(r, f"{d}Wire"))
        rec[f"{d}_retransmissions"] = int(getattr(r, f"{d}Retx"))
        rec[f"{d}_queue_drops"] = int(getattr(r, f"{d}Drops"))
        rec[f"{d}_max_queue_pkts"] = int(getattr(r, f"{d}MaxQ"))
        rec[f"{d}_fast_recoveries"] = int(getattr(r, f"{d}Fr"))
        rec[f"{d}_rto_timeouts"] = int(getattr(r, f"{d}Rto"))
        rec[f"{d}_max_cwnd_segments"] = round(int(getattr(r, f"{d}MaxCwnd")) / MSS_BYTES, 1)
        ssth = int(getattr(r, f"{d}Ssth"))
        rec[f"{d}_first_loss_ssthresh_segments"] = round(ssth / MSS_BYTES, 1) if ssth else None
    print(f"{rec['name']:26s} delack={del_ack_count} completion {rec['completion_s']:.6f} s  "
          f"handshake {rec['handshake_s']:.6f} s  "
          f"retx {rec['up_retransmissions']}/{rec['down_retransmissions']}  "
          f"drops {rec['up_queue_drops']}/{rec['down_queue_drops']}  "
          f"maxq {rec['up_max_queue_pkts']}/{rec['down_max_queue_pkts']}  "
          f"FR {rec['up_fast_recoveries']}/{rec['down_fast_recoveries']}  "
          f"RTO {rec['up_rto_timeouts']}/{rec['down_rto_timeouts']}  "
          f"ssthresh {rec['up_first_loss_ssthresh_segments']}/{rec['down_first_loss_ssthresh_segments']}  "
          f"({wall:.1f} s wall)", file=sys.stderr)
    return rec, str(r.socketAttrs), str(r.queueDesc)


def wire_s(payload: int, mbps: float) -> float:
    """Serialization time of `payload` bytes sent as MSS-sized segments (52 B TCP/IP + 2 B PPP each)."""
    segments = -(-payload // MSS_BYTES)
    return (payload + segments * (52 + 2)) * 8 / (mbps * 1e6)


def closed_form(rec: dict[str, Any]) -> tuple[float, str]:
    """A hand estimate of completion_s (a sanity check of the setup, not a model)."""
    rtt = 2 * rec["one_way_ms"] / 1000
    up, down = rec["up_mbps"], rec["down_mbps"]
    if rec["rounds"] > 1:
        per = wire_s(rec["up_bytes"], up) + wire_s(rec["down_bytes"], down) + rtt + rec["compute_ms"] / 1000
        return rec["rounds"] * per, "rounds x (wire up + wire down + RTT + compute)"
    bulk_up = rec["up_bytes"] > rec["down_bytes"]
    payload, mbps = (rec["up_bytes"], up) if bulk_up else (rec["down_bytes"], down)
    link_rate_s = wire_s(payload, mbps)
    window_rate_s = payload / (rec["rwnd_bytes"] / rtt)
    return max(link_rate_s, window_rate_s) + rtt, "max(wire time, bytes/(rwnd/RTT)) + RTT (no slow start)"


def _setup(ns3_version: str, socket_attrs: dict[str, str]) -> dict[str, Any]:
    """The fields both reference files record about the simulation set-up."""
    return {
        "ns3_version": ns3_version,
        "mss_bytes": MSS_BYTES,
        "delayed_ack": (f"ns-3 default: DelAckCount={socket_attrs.get('DelAckCount')}, "
                        f"DelAckTimeout={socket_attrs.get('DelAckTimeout')}"),
        "topology": ("device NetDevice --p2p channel (delay=one_way_ms)-- cloud NetDevice; device DataRate="
                     "up_mbps, cloud DataRate=down_mbps; MTU 1500, PPP header 2 B per packet"),
        "header_bytes": 52,
        "snd_buf_bytes": SND_BUF_BYTES,
        "init_cwnd_pkts": INIT_CWND_PKTS,
        "socket_attributes": socket_attrs,
    }


def main(argv: list[str] | None = None) -> int:
    """Run every case and write the JSON (default: ns3_results.json beside this script)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "ns3_results.json")
    parser.add_argument("--only", help="substring filter on case names (for debugging; JSON not written)")
    parser.add_argument("--tcp", choices=["newreno", "default"], default="newreno",
                        help="newreno: TcpNewReno (ns3_results.json); default: ns-3's default TCP, CUBIC "
                        "with SACK and PRR (ns3_default_results.json)")
    args = parser.parse_args(argv)

    _, ref, ns3_version = load_ns3()
    if args.tcp == "default":
        return main_default(ref, ns3_version, args)
    cases, sensitivity, attrs, queue = [], [], "", ""
    for link in LINKS:
        for exch in EXCHANGES:
            if args.only and args.only not in f"{link[0]}/{exch[0]}":
                continue
            rec, attrs, queue = run_case(ref, link, exch)
            est, how = closed_form(rec)
            print(f"{'':26s} closed form {est:.6f} s ({how}); ns-3/closed = {rec['completion_s'] / est:.3f}",
                  file=sys.stderr)
            cases.append(rec)
            # Same case with an ACK for every segment: shows how much of a figure is ns-3's
            # per-ACK (not per-byte) cwnd growth under delayed ACK.
            alt, _, _ = run_case(ref, link, exch, del_ack_count=1)
            sensitivity.append({"name": alt["name"], "completion_s": alt["completion_s"],
                                "handshake_s": alt["handshake_s"],
                                "up_retransmissions": alt["up_retransmissions"],
                                "down_retransmissions": alt["down_retransmissions"]})
    if args.only:
        return 0
    socket_attrs = dict(kv.split("=", 1) for kv in attrs.split(";") if kv)
    socket_attrs.pop("RcvBufSize", None)  # per case: rwnd_bytes
    doc = {
        **_setup(ns3_version, socket_attrs),
        "tcp": "TcpNewReno",
        "queue": f"DropTail {QUEUE_PKTS}p",
        "queue_detail": (f"{queue} (TrafficControlHelper::Uninstall removed the default FqCoDel); "
                         "one DropTailQueue per NetDevice = per direction; a packet meeting a full device "
                         "queue is dropped by the traffic-control layer (TcDrop), counted in *_queue_drops"),
        "rcv_buf_bytes": "rwnd_bytes of each case, on both endpoints",
        "timing": ("handshake_s = Connect() call to ConnectionSucceeded at the client; completion_s = from "
                   "that instant (first request byte handed to TCP) to the last reply byte of the last round "
                   "delivered to the client application"),
        "wire_bytes": ("IP bytes (payload + TCP header incl. options + 20 B IPv4) of payload-carrying "
                       "segments handed to IP, retransmissions included, pure ACKs and handshake excluded"),
        "generated_by": "netsim/reference/ns3_cases.py",
        "cases": cases,
        "sensitivity_delack_count_1": {
            "note": ("NOT the reference: the same cases with DelAckCount=1 (ACK every segment). ns-3's "
                     "NewReno grows cwnd by one MSS per ACK, so with the default delayed ACK slow start "
                     "grows ~1.5x per RTT; with DelAckCount=1 it doubles per RTT (like Linux, which counts "
                     "acked segments)."),
            "cases": sensitivity,
        },
    }
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def main_default(ref: Any, ns3_version: str, args: argparse.Namespace) -> int:
    """The default-TCP reference set: DEFAULT_EXCHANGES on every link with both buffer sizes."""
    out = args.out
    if out.name == "ns3_results.json":
        out = out.with_name("ns3_default_results.json")
    cases, attrs, queue = [], "", ""
    for link in LINKS:
        for exch in DEFAULT_EXCHANGES:
            for qp in DEFAULT_QUEUES:
                name = f"{link[0]}/{exch[0]}/q{qp}"
                if args.only and args.only not in name:
                    continue
                rec, attrs, queue = run_case(ref, link, exch, queue_pkts=qp, newreno=False)
                cases.append(rec)
    if args.only:
        return 0
    socket_attrs = dict(kv.split("=", 1) for kv in attrs.split(";") if kv)
    socket_attrs.pop("RcvBufSize", None)
    doc = {
        **_setup(ns3_version, socket_attrs),
        "tcp": "ns-3 default TCP: " + socket_attrs.get("TcpL4Protocol::SocketType", "?")
        + ", recovery " + socket_attrs.get("TcpL4Protocol::RecoveryType", "?"),
        "queue": "DropTail, queue_pkts per case (100 or 1000)",
        "timing": "as in ns3_results.json",
        "generated_by": "netsim/reference/ns3_cases.py --tcp default",
        "cases": cases,
    }
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
