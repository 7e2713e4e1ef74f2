// The invitation page: makes an ECDSA P-256 key with WebCrypto, builds a
// PKCS#10 certificate request for exactly the invited subject, sends only
// the request, and assembles the kubeconfig around the key when the
// certificate comes back. The private key never leaves this page.
"use strict";

(function () {
  const main = document.getElementById("invite");
  if (!main) {
    return;
  }
  const user = main.dataset.user;
  const groups = main.dataset.groups ? main.dataset.groups.split(",") : [];
  const token = location.pathname.split("/")[2];
  const button = document.getElementById("create");
  const statusLine = document.getElementById("status");
  const download = document.getElementById("download");

  function say(text, kind) {
    statusLine.textContent = text;
    statusLine.className = kind || "";
  }

  // DER, just what a certificate request needs.
  function concat(parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
  function tlv(tag, body) {
    const n = body.length;
    let head;
    if (n < 0x80) {
      head = [tag, n];
    } else {
      const len = [];
      for (let v = n; v > 0; v >>= 8) {
        len.unshift(v & 0xff);
      }
      head = [tag, 0x80 | len.length].concat(len);
    }
    return concat([new Uint8Array(head), body]);
  }
  const seq = (...items) => tlv(0x30, concat(items));
  const set = (...items) => tlv(0x31, concat(items));
  const utf8 = (s) => tlv(0x0c, new TextEncoder().encode(s));
  function oid(dotted) {
    const arcs = dotted.split(".").map(Number);
    const bytes = [40 * arcs[0] + arcs[1]];
    for (const arc of arcs.slice(2)) {
      const b = [arc & 0x7f];
      for (let v = arc >> 7; v > 0; v >>= 7) {
        b.unshift(0x80 | (v & 0x7f));
      }
      bytes.push(...b);
    }
    return tlv(0x06, new Uint8Array(bytes));
  }
  function integer(bytes) {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) {
      i++;
    }
    let b = bytes.slice(i);
    if (b[0] & 0x80) {
      b = concat([new Uint8Array([0]), b]);
    }
    return tlv(0x02, b);
  }
  const bitString = (bytes) => tlv(0x03, concat([new Uint8Array([0]), bytes]));

  const commonName = "2.5.4.3";
  const organization = "2.5.4.10";
  const ecdsaWithSHA256 = "1.2.840.10045.4.3.2";

  function subject() {
    const rdns = [set(seq(oid(commonName), utf8(user)))];
    for (const g of groups) {
      rdns.push(set(seq(oid(organization), utf8(g))));
    }
    return seq(...rdns);
  }

  function base64(bytes) {
    let s = "";
    for (const b of bytes) {
      s += String.fromCharCode(b);
    }
    return btoa(s);
  }
  function pem(type, bytes) {
    const lines = base64(bytes).match(/.{1,64}/g);
    return "-----BEGIN " + type + "-----\n" + lines.join("\n") + "\n-----END " + type + "-----\n";
  }

  // certificateRequest signs a PKCS#10 request for the invited subject.
  async function certificateRequest(keys) {
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
    const info = seq(integer(new Uint8Array([0])), subject(), spki, tlv(0xa0, new Uint8Array(0)));
    const raw = new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, info));
    const half = raw.length / 2;
    const signature = seq(integer(raw.slice(0, half)), integer(raw.slice(half)));
    return pem("CERTIFICATE REQUEST", seq(info, seq(oid(ecdsaWithSHA256)), bitString(signature)));
  }

  function kubeconfig(parts, certificate, keyPEM) {
    const q = JSON.stringify;
    // A certificate that may renew itself says so, for kubeaccess complete.
    const renewing = parts.renewing
      ? ["    extensions:", "    - name: \"kubeaccess.io/renewing\"", "      extension: " + q(parts.renewing)]
      : [];
    const cluster = ["    server: " + q(parts.server)];
    if (parts.certificateAuthorityData) {
      cluster.push("    certificate-authority-data: " + q(parts.certificateAuthorityData));
    }
    if (parts.insecureSkipTLSVerify) {
      cluster.push("    insecure-skip-tls-verify: true");
    }
    return [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: " + q(parts.cluster),
      "  cluster:",
      ...cluster,
      "users:",
      "- name: " + q(parts.user),
      "  user:",
      "    client-certificate-data: " + q(btoa(certificate)),
      "    client-key-data: " + q(btoa(keyPEM)),
      ...renewing,
      "contexts:",
      "- name: " + q(parts.context),
      "  context:",
      "    cluster: " + q(parts.cluster),
      "    user: " + q(parts.user),
      "    namespace: " + q(parts.namespace),
      "current-context: " + q(parts.context),
      "",
    ].join("\n");
  }

  async function call(method, path, body) {
    const res = await fetch(path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    let data = {};
    try {
      data = await res.json();
    } catch (e) {
      data = { state: "failed", message: "the server answered " + res.status };
    }
    if (!res.ok) {
      const err = new Error(data.message || "the server answered " + res.status);
      err.retryable = res.status === 429 || res.status === 503;
      err.retryAfter = Number(res.headers.get("Retry-After")) || 0;
      throw err;
    }
    return data;
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  // poll asks for the redemption's status, and on a busy or briefly
  // unreachable server (429, 503, a dropped connection) waits and asks
  // again, for up to two minutes: giving up would lose the key this page
  // holds, and with it the certificate being issued.
  async function poll() {
    const deadline = Date.now() + 120000;
    for (let wait = 500; ; wait = Math.min(wait * 2, 8000)) {
      try {
        return await call("GET", "/i/" + token + "/status");
      } catch (e) {
        const transient = e.retryable || e instanceof TypeError;
        if (!transient || Date.now() > deadline) {
          throw e;
        }
        say("The server is busy; asking again shortly. Keep this page open.");
        await sleep(Math.max(wait, e.retryAfter * 1000 || 0));
      }
    }
  }

  async function create() {
    button.disabled = true;
    if (!window.crypto || !crypto.subtle) {
      say("This browser cannot make a key here: open the link over HTTPS in a current browser.", "error");
      return;
    }
    say("Making your private key in this browser…");
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const request = await certificateRequest(keys);
    say("Sending your certificate request (not the key)…");
    let status = await call("POST", "/i/" + token + "/request", { request: request });
    while (status.state !== "issued") {
      if (status.state === "failed") {
        throw new Error(status.message || "the certificate was not issued");
      }
      if (status.state === "waiting") {
        say("Waiting for approval: an administrator approves request " + (status.certificateSigningRequest || "") + ". Keep this page open.");
      } else {
        say("Issuing your certificate…");
      }
      await sleep(500);
      status = await poll();
    }
    const keyPEM = pem("PRIVATE KEY", new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)));
    const file = user.replace(/[^A-Za-z0-9._-]/g, "_") + ".kubeconfig";
    const blob = new Blob([kubeconfig(status.kubeconfig, status.certificate, keyPEM)], { type: "application/yaml" });
    download.href = URL.createObjectURL(blob);
    download.download = file;
    download.textContent = "Download " + file;
    download.hidden = false;
    say("Your certificate was issued. Download your kubeconfig: it is the only copy of your key.", "ok");
    const ns = status.kubeconfig.namespace;
    const renew = status.kubeconfig.renewing
      ? ["# This certificate may renew itself: with kubeaccess installed, run once", "kubectl access complete " + file]
      : [];
    document.getElementById("commands").textContent = [
      ...renew,
      "export KUBECONFIG=$PWD/" + file,
      "kubectl auth whoami",
      "kubectl auth can-i --list -n " + ns,
      "kubectl get pods -n " + ns,
    ].join("\n");
    document.getElementById("next").hidden = false;
  }

  button.addEventListener("click", () => {
    create().catch((e) => {
      say(e.message, "error");
    });
  });
})();
