'use strict';
// The stream list of bbllive's start page: polls /streams.json, adds a card
// with a muted live preview (the project's fMP4 player, player.js) for each
// stream that comes, removes the card of each that goes, and keeps the
// figures current. window.playerError is the first player's error, for
// tests; window.bblPlayers holds each card's player.
(function () {
  const cards = new Map(); // stream key -> {el, player}
  window.bblPlayers = cards;
  window.playerError = '';
  const main = document.getElementById('streams');
  const status = document.getElementById('status');
  const template = document.getElementById('card');

  const kbps = (r) => (r.bitrate_kbps >= 1000 ? (r.bitrate_kbps / 1000).toFixed(2) + ' Mbit/s' : Math.round(r.bitrate_kbps) + ' kbit/s');
  function uptime(s) {
    s = Math.floor(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + sec + 's';
  }

  function urlsOf(list, r) {
    const host = location.hostname.includes(':') ? '[' + location.hostname + ']' : location.hostname;
    const http = location.protocol + '//' + location.host + '/' + r.stream;
    const ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/' + r.stream;
    const out = [];
    if (list.rtmp_port) out.push(['RTMP', 'rtmp://' + host + ':' + list.rtmp_port + '/' + r.stream]);
    out.push(['HTTP-FLV', http + '.flv'], ['WebSocket-FLV', ws + '.flv'], ['fMP4', http + '.mp4']);
    if (list.hls) out.push(['HLS', http + '/index.m3u8']);
    return out;
  }

  function copyButton(input) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = 'Copy';
    b.addEventListener('click', () => {
      input.select();
      const done = () => { b.textContent = 'Copied'; setTimeout(() => { b.textContent = 'Copy'; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, () => {});
      else if (document.execCommand('copy')) done();
    });
    return b;
  }

  function addCard(list, r) {
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.stream = r.stream;
    el.querySelector('.key').textContent = r.stream;
    const dl = el.querySelector('.urls');
    for (const [name, url] of urlsOf(list, r)) {
      const dt = document.createElement('dt');
      dt.textContent = name;
      const dd = document.createElement('dd');
      const input = document.createElement('input');
      input.readOnly = true;
      input.value = url;
      dd.append(input);
      dl.append(dt, dd, copyButton(input));
    }
    const video = el.querySelector('video');
    const errorEl = el.querySelector('.error');
    const card = { el: el, player: null };
    video.addEventListener('error', () => {
      const msg = 'video error ' + (video.error ? video.error.code + ' ' + video.error.message : '');
      errorEl.textContent = msg;
      errorEl.hidden = false;
      if (!window.playerError && main.firstElementChild === el) window.playerError = msg;
    });
    main.append(el);
    card.player = window.bbllive.play(video, '/' + r.stream + '.mp4', {
      onError: (msg) => {
        errorEl.textContent = msg;
        errorEl.hidden = false;
        if (!window.playerError && main.firstElementChild === el) window.playerError = msg;
      },
    });
    cards.set(r.stream, card);
    return card;
  }

  // links fills the header from the list's links: what else this listener
  // serves, or a note of where it is served instead.
  let linked = false;
  function links(list) {
    if (linked) return;
    linked = true;
    const nav = document.getElementById('links');
    for (const l of list.links || []) {
      const el = document.createElement(l.href ? 'a' : 'span');
      el.textContent = l.text;
      if (l.href) el.href = l.href;
      nav.append(' ', el);
    }
  }

  function update(list) {
    document.getElementById('version').textContent = list.version || '';
    links(list);
    const seen = new Set();
    for (const r of list.streams) {
      seen.add(r.stream);
      const card = cards.get(r.stream) || addCard(list, r);
      const codecs = [r.video_codec, r.audio_codec].filter(Boolean).join(' + ') || 'codecs unknown';
      const lat = card.player && card.player.stats.latency;
      card.el.querySelector('.facts').textContent = r.players + (r.players === 1 ? ' player' : ' players') + ' · ' + kbps(r) +
        ' · ' + codecs + ' · up ' + uptime(r.uptime_seconds) + (lat >= 0 ? ' · ' + lat.toFixed(2) + ' s behind live' : '');
    }
    for (const [key, card] of cards) {
      if (!seen.has(key)) {
        card.player.stop();
        card.el.remove();
        cards.delete(key);
      }
    }
    if (list.hidden) status.textContent = 'The list is hidden: playing needs a credential on this server.';
    else if (list.streams.length === 0) status.textContent = 'No live streams. Publish one, e.g.: ffmpeg -re -i FILE -c:v libx264 -pix_fmt yuv420p -c:a aac -f flv rtmp://' + location.hostname + ':' + (list.rtmp_port || 1935) + '/live/test';
    else status.textContent = list.streams.length + (list.streams.length === 1 ? ' live stream' : ' live streams');
  }

  async function poll() {
    try {
      const resp = await fetch('/streams.json', { cache: 'no-store' });
      if (!resp.ok) throw new Error('HTTP ' + resp.status);
      update(await resp.json());
    } catch (e) {
      status.textContent = 'Cannot read the stream list: ' + e.message;
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
