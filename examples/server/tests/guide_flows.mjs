// The reference guide's client flows, as a team's Node code would run them
// against waotp-server: create a session, poll its status until connected,
// send an OTP, a custom template through generate-otp + text, a batch, list
// the sessions, retry with exponential backoff, and verify a code.
//
//   node guide_flows.mjs http://127.0.0.1:PORT
//
// Prints one JSON object on stdout with what each flow saw; the Rust test
// (tests/api/guide_flows.rs) scans the QR code, checks the recipients'
// inboxes against it, and fails on any error. Node 18+ (global fetch).

const BASE = `${process.argv[2]}/api`;
const SESSION = "my-session";
// The guide polls every 3 s and waits 2 s between batch sends; shorter here
// so the test is quick. The shapes and the order of calls are the guide's.
const POLL_MS = 100;
const CONNECT_TIMEOUT_MS = 60_000;
const BATCH_DELAY_MS = 100;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function postJson(path, body) {
  const response = await fetch(`${BASE}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response;
}

async function createSession(sessionId) {
  const response = await postJson("/sessions/create", { sessionId });
  const result = await response.json();
  if (!result.success) throw new Error(`create: ${result.message}`);
  return result.data.sessionId;
}

async function checkConnection(sessionId) {
  const response = await fetch(`${BASE}/sessions/${sessionId}/status`);
  const data = await response.json();
  return data.data.isConnected ? data.data : null;
}

async function waitForConnection(sessionId) {
  const started = Date.now();
  while (Date.now() - started < CONNECT_TIMEOUT_MS) {
    const status = await checkConnection(sessionId);
    if (status) return status;
    await sleep(POLL_MS);
  }
  throw new Error("Connection timeout");
}

async function sendOTP(phoneNumber, companyName) {
  const response = await postJson(`/messages/${SESSION}/otp`, { to: phoneNumber, companyName });
  const result = await response.json();
  if (result.success) return result.data.otp;
  throw new Error(result.message);
}

async function sendCustomOTP(phoneNumber, template) {
  const otpResponse = await fetch(`${BASE}/messages/${SESSION}/generate-otp?length=6`);
  const otpData = await otpResponse.json();
  const otp = otpData.data.otp;
  const message = template.replace("{OTP}", otp);
  const response = await postJson(`/messages/${SESSION}/text`, { to: phoneNumber, message });
  const result = await response.json();
  if (!result.success) throw new Error(result.message);
  return { otp, messageId: result.data.messageId };
}

async function sendBatchOTP(phoneNumbers, companyName) {
  const results = [];
  for (const phoneNumber of phoneNumbers) {
    try {
      const response = await postJson(`/messages/${SESSION}/otp`, { to: phoneNumber, companyName });
      const result = await response.json();
      results.push({
        phoneNumber,
        success: result.success,
        otp: result.success ? result.data.otp : null,
        error: result.success ? null : result.message,
      });
      await sleep(BATCH_DELAY_MS);
    } catch (error) {
      results.push({ phoneNumber, success: false, otp: null, error: error.message });
    }
  }
  return results;
}

async function getAllSessions() {
  const response = await fetch(`${BASE}/sessions`);
  const data = await response.json();
  return data.data.sessions;
}

async function retryRequest(requestFn, maxRetries, delay) {
  const attempts = [];
  for (let attempt = 1; attempt <= maxRetries; attempt++) {
    try {
      const value = await requestFn();
      return { value, attempts };
    } catch (error) {
      attempts.push(error.message);
      if (attempt === maxRetries) {
        const final = new Error(error.message);
        final.attempts = attempts;
        throw final;
      }
      await sleep(delay);
      delay *= 2;
    }
  }
}

async function sendOTPWithRetry(phoneNumber) {
  return retryRequest(async () => {
    const response = await postJson(`/messages/${SESSION}/otp`, { to: phoneNumber });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${response.statusText}`);
    return response.json();
  }, 3, 50);
}

async function main() {
  const out = {};
  out.sessionId = await createSession(SESSION);
  const status = await waitForConnection(SESSION);
  out.user = status.user;

  out.otp = await sendOTP("081234567880", "PT. Contoh");
  // Retry with backoff on the number that just got a code (right away, well
  // inside its 10 s resend cooldown): each attempt is answered 429, and the
  // guide's helper gives up after three.
  try {
    await sendOTPWithRetry("081234567880");
    out.retryCooldown = { gaveUp: false };
  } catch (error) {
    out.retryCooldown = { gaveUp: true, attempts: error.attempts };
  }

  const template = [
    "🔐 Kode Verifikasi Anda",
    "",
    "Kode OTP: *{OTP}*",
    "",
    "Jangan bagikan kode ini kepada siapapun.",
    "Berlaku 5 menit.",
  ].join("\n");
  out.custom = await sendCustomOTP("081234567881", template);

  out.batch = await sendBatchOTP(["081234567882", "081234567883", "081234567884"], "PT. Contoh");

  const sessions = await getAllSessions();
  out.sessions = Object.fromEntries(
    Object.entries(sessions).map(([id, s]) => [id, s.isConnected]),
  );

  // A fresh number: the first attempt succeeds.
  const retried = await sendOTPWithRetry("081234567885");
  out.retryOk = { otp: retried.value.data.otp, attempts: retried.attempts.length };

  const verify = await postJson("/otp/verify", { phoneNumber: "081234567880", otp: out.otp });
  out.verify = { status: verify.status, body: await verify.json() };

  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((error) => {
  process.stderr.write(`guide flows failed: ${error.stack || error}\n`);
  process.exit(1);
});
