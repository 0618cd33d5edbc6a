'use strict';
// bbllive's own live fMP4 player: fetch() streams /APP/NAME.mp4 (the init
// segment, then prft+moof+mdat fragments) and feeds one SourceBuffer, with
// the codecs read from the init segment. It keeps near the live edge: a
// video that falls behind plays slightly faster, then jumps; old buffered
// media is removed. The prft boxes (the server's clock at each fragment)
// tell how far behind live the frame on screen is.
(function () {
  const u32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
  const fourcc = (b, o) => String.fromCharCode(b[o + 4], b[o + 5], b[o + 6], b[o + 7]);
  const hex2 = (n) => n.toString(16).padStart(2, '0');
  const NTP_UNIX = 2208988800;

  function concat(parts) {
    let n = 0;
    for (const p of parts) n += p.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const p of parts) { out.set(p, o); o += p.length; }
    return out;
  }

  // children lists the boxes in b[start:end].
  function children(b, start, end) {
    const out = [];
    for (let o = start; o + 8 <= end;) {
      const n = u32(b, o);
      if (n < 8 || o + n > end) break;
      out.push({ type: fourcc(b, o), start: o, end: o + n });
      o += n;
    }
    return out;
  }

  // aacObjectType reads the AudioSpecificConfig's object type from an esds.
  function aacObjectType(b, esds) {
    let o = esds.start + 12;
    const desc = () => {
      const tag = b[o++];
      for (let i = 0; i < 4 && (b[o++] & 0x80); i++);
      return tag;
    };
    if (desc() !== 3) return 2;
    const flags = b[o + 2];
    o += 3;
    if (flags & 0x80) o += 2;
    if (flags & 0x40) o += 1 + b[o];
    if (flags & 0x20) o += 2;
    if (desc() !== 4) return 2;
    o += 13;
    if (desc() !== 5) return 2;
    const aot = b[o] >> 3;
    return aot === 31 ? 32 + (((b[o] & 7) << 3) | (b[o + 1] >> 5)) : aot;
  }

  // codecsOf is the RFC 6381 codecs of an init segment's sample entries.
  function codecsOf(init) {
    const out = [];
    const containers = new Set(['moov', 'trak', 'mdia', 'minf', 'stbl']);
    const entries = (s, e) => {
      for (const x of children(init, s, e)) {
        if (x.type === 'avc1') {
          const c = children(init, x.start + 86, x.end).find((y) => y.type === 'avcC');
          if (c) out.push('avc1.' + hex2(init[c.start + 9]) + hex2(init[c.start + 10]) + hex2(init[c.start + 11]));
        } else if (x.type === 'hvc1') {
          out.push('hvc1.1.6.L93.B0');
        } else if (x.type === 'av01') {
          out.push('av01.0.08M.08');
        } else if (x.type === 'mp4a') {
          const esds = children(init, x.start + 36, x.end).find((y) => y.type === 'esds');
          out.push('mp4a.40.' + (esds ? aacObjectType(init, esds) : 2));
        }
      }
    };
    const walk = (s, e) => {
      for (const x of children(init, s, e)) {
        if (containers.has(x.type)) walk(x.start + 8, x.end);
        else if (x.type === 'stsd') entries(x.start + 16, x.end);
      }
    };
    walk(0, init.length);
    return out.join(',');
  }

  // timescalesOf maps an init segment's track IDs to their timescales
  // (tkhd and mdhd of version 0, as bbllive writes them).
  function timescalesOf(init) {
    const out = {};
    for (const moov of children(init, 0, init.length).filter((x) => x.type === 'moov')) {
      for (const trak of children(init, moov.start + 8, moov.end).filter((x) => x.type === 'trak')) {
        const kids = children(init, trak.start + 8, trak.end);
        const tkhd = kids.find((x) => x.type === 'tkhd'), mdia = kids.find((x) => x.type === 'mdia');
        const mdhd = mdia && children(init, mdia.start + 8, mdia.end).find((x) => x.type === 'mdhd');
        if (tkhd && mdhd) out[u32(init, tkhd.start + 20)] = u32(init, mdhd.start + 20);
      }
    }
    return out;
  }

  // play streams url into video until stop() is called. opts: target (s
  // behind the buffered end to aim at), maxBehind (s before a jump),
  // onError(message).
  function play(video, url, opts) {
    opts = opts || {};
    const target = opts.target || 0.3;
    const maxBehind = opts.maxBehind || 1.0;
    const ms = new MediaSource();
    const abort = new AbortController();
    const queue = []; // {data, mime}: init segments carry their mime
    const stats = { latency: NaN, behind: NaN, jumps: 0, bytes: 0, ref: null };
    let sb = null, mime = '', stopped = false, timescales = {};

    const fail = (e) => {
      if (stopped) return;
      stopped = true;
      abort.abort();
      if (opts.onError) opts.onError(String(e && e.message ? e.message : e));
    };

    function pump() {
      if (stopped || !sb || sb.updating || queue.length === 0) return;
      const item = queue[0];
      try {
        if (item.mime && item.mime !== mime) {
          if (mime && sb.changeType) sb.changeType(item.mime);
          mime = item.mime;
        }
        sb.appendBuffer(item.data);
        queue.shift();
      } catch (e) {
        if (e.name !== 'QuotaExceededError' || !trim(true)) fail(e);
      }
    }

    // trim removes what is more than 10 s behind the playhead.
    function trim(force) {
      if (!sb || sb.updating || sb.buffered.length === 0) return false;
      const start = sb.buffered.start(0), keep = video.currentTime - 10;
      if (keep - start > 5 || (force && keep > start)) {
        sb.remove(start, keep);
        return true;
      }
      return false;
    }

    function keepLive() {
      const br = video.buffered;
      if (stopped || br.length === 0) return;
      const end = br.end(br.length - 1);
      const behind = end - video.currentTime;
      stats.behind = behind;
      if (video.currentTime < br.start(0) || behind > maxBehind) {
        video.currentTime = Math.max(br.start(br.length - 1), end - target);
        stats.jumps++;
      } else {
        video.playbackRate = behind > target + 0.25 ? 1.1 : 1.0;
      }
      if (stats.ref) {
        // The live edge now is the media time the server had ingested at
        // its clock's reading, plus the time since.
        const edge = stats.ref.media + (Date.now() - stats.ref.wall) / 1000;
        stats.latency = edge - video.currentTime;
      }
      if (video.paused) video.play().catch(() => {});
    }

    function readPRFT(b) {
      const ntpSec = u32(b, 16), ntpFrac = u32(b, 20);
      const media = u32(b, 24) * 4294967296 + u32(b, 28);
      const scale = timescales[u32(b, 12)];
      if (scale) stats.ref = { wall: (ntpSec - NTP_UNIX) * 1000 + (ntpFrac / 4294967296) * 1000, media: media / scale };
    }

    function initSegment(data) {
      const codecs = codecsOf(data);
      const m = 'video/mp4; codecs="' + codecs + '"';
      if (!codecs || !MediaSource.isTypeSupported(m)) throw new Error('this browser cannot play ' + m);
      timescales = timescalesOf(data);
      if (!sb) {
        sb = ms.addSourceBuffer(m);
        sb.mode = 'segments';
        mime = m;
        sb.addEventListener('updateend', () => { keepLive(); if (!trim(false)) pump(); });
        sb.addEventListener('error', () => fail('SourceBuffer error'));
      }
      queue.push({ data: data, mime: m });
    }

    async function run() {
      const resp = await fetch(url, { signal: abort.signal, cache: 'no-store' });
      if (!resp.ok) throw new Error('HTTP ' + resp.status + ' for ' + url);
      const reader = resp.body.getReader();
      let buf = new Uint8Array(0), ftyp = null;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the stream ended');
        stats.bytes += value.length;
        buf = buf.length ? concat([buf, value]) : value;
        const media = [];
        let o = 0;
        while (o + 8 <= buf.length) {
          const n = u32(buf, o);
          if (n < 8) throw new Error('bad box size ' + n);
          if (o + n > buf.length) break;
          const t = fourcc(buf, o), box = buf.subarray(o, o + n);
          if (t === 'prft') {
            readPRFT(box);
          } else if (t === 'ftyp') {
            ftyp = box;
          } else if (t === 'moov') {
            if (media.length) { queue.push({ data: concat(media) }); media.length = 0; }
            initSegment(concat(ftyp ? [ftyp, box] : [box]));
          } else {
            media.push(box);
          }
          o += n;
        }
        buf = buf.slice(o);
        if (media.length) queue.push({ data: concat(media) });
        pump();
      }
    }

    video.src = URL.createObjectURL(ms);
    ms.addEventListener('sourceopen', () => run().catch(fail), { once: true });
    const timer = setInterval(keepLive, 250);
    return {
      stats: stats,
      stop() {
        stopped = true;
        clearInterval(timer);
        abort.abort();
        URL.revokeObjectURL(video.src);
        video.removeAttribute('src');
        video.load();
      },
    };
  }

  window.bbllive = { play: play, codecsOf: codecsOf };
})();
