<?php
/**
 * Tests of WhatsAppOTP, send_otp.php and login_with_whatsapp.php against the
 * waotp-sim simulator.
 *
 *   php -d ffi.enable=1 examples/php/tests/run.php
 *
 * Needs target/debug/libwaotp.so (sandbox) and target/debug/waotp-sim (or
 * WAOTP_LIB / WAOTP_SIM). Prints one line per test, then `N passed, N failed`.
 */
require dirname(__DIR__) . '/WhatsAppOTP.php';

class CheckFailed extends Exception
{
}

$root = dirname(__DIR__, 3);
$lib = getenv('WAOTP_LIB') ?: "$root/target/debug/libwaotp.so";
$simBin = getenv('WAOTP_SIM') ?: "$root/target/debug/waotp-sim";
putenv("WAOTP_LIB=$lib");

// Deadlines, generous on purpose (a loaded 2-core machine, debug builds):
// every wait returns as soon as its condition holds.
const START_S = 60;     // the simulator prints its URLs
const CONNECT_MS = 60000; // a session shows its first QR code; a scanned one connects
const INBOX_S = 60;     // a sent message shows up in the recipient's inbox
const SCRIPT_S = 300;   // the whole send_otp.php run

// --- a fresh directory and the simulator, both gone however the run ends ----------
$tmp = sys_get_temp_dir() . '/waotp-php-' . getmypid() . '-' . bin2hex(random_bytes(6));
if (!mkdir($tmp, 0700)) {
    fwrite(STDERR, "cannot create $tmp\n");
    exit(1);
}
$sim = null;
$shared = null; // see shared()
register_shutdown_function(function () use ($tmp) {
    global $sim, $shared;
    if ($shared instanceof WhatsAppOTP) {
        $shared->close();
    }
    if (is_resource($sim)) {
        proc_terminate($sim);
        waitProcess($sim, microtime(true) + 10);
    }
    exec('rm -rf ' . escapeshellarg($tmp));
});

/**
 * Waits until $proc exits, killing it if it still runs at $deadline
 * (microtime), and returns its exit status (-N if signal N ended it).
 * (PHP < 8.3 reports the exit code to the first proc_get_status after the
 * exit only, so the status is taken from that call, not from proc_close.)
 */
function waitProcess($proc, $deadline)
{
    while (($st = proc_get_status($proc))['running'] && microtime(true) < $deadline) {
        usleep(10000); // a bounded poll for the exit
    }
    if ($st['running']) {
        proc_terminate($proc, 9);
        proc_close($proc);
        return -9;
    }
    proc_close($proc);
    return $st['signaled'] ? -$st['termsig'] : $st['exitcode'];
}

/**
 * Reads $pipe line by line, calling $onLine for each, until EOF or until
 * $onLine returns true; throws if that is not over by $deadline (microtime).
 * Returns everything read.
 */
function readLines($pipe, $deadline, callable $onLine)
{
    stream_set_blocking($pipe, false);
    $out = '';
    $buffer = '';
    while (true) {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            throw new RuntimeException("no end of output in time; so far:\n$out$buffer");
        }
        $read = [$pipe];
        $write = $except = null;
        $ready = stream_select($read, $write, $except, (int)$left, (int)(fmod($left, 1) * 1e6));
        if ($ready === false) {
            throw new RuntimeException('stream_select failed');
        }
        if ($ready === 0) {
            continue;
        }
        $chunk = fread($pipe, 8192);
        if ($chunk === false || $chunk === '') {
            if (feof($pipe)) {
                break;
            }
            continue;
        }
        $buffer .= $chunk;
        while (($nl = strpos($buffer, "\n")) !== false) {
            $line = substr($buffer, 0, $nl + 1);
            $buffer = substr($buffer, $nl + 1);
            $out .= $line;
            if ($onLine($line) === true) {
                return $out;
            }
        }
    }
    return $out . $buffer;
}

$sim = proc_open([$simBin, '--listen', '127.0.0.1:0', '--control', '127.0.0.1:0'],
    [1 => ['pipe', 'w'], 2 => ['file', "$tmp/sim.log", 'w']], $simPipes);
$urls = null;
try {
    readLines($simPipes[1], microtime(true) + START_S, function ($line) use (&$urls) {
        $urls = json_decode($line, true);
        return true; // the one line it prints
    });
} catch (RuntimeException $e) {
    fwrite(STDERR, 'the simulator printed no URLs within ' . START_S . " s\n");
}
if (!$urls) {
    fwrite(STDERR, "the simulator did not start; log: " . @file_get_contents("$tmp/sim.log") . "\n");
    exit(1);
}
$ws = $urls['ws'];
$control = $urls['control'];

function sim($method, $path, $body = null)
{
    global $control;
    $ctx = stream_context_create(['http' => [
        'method' => $method,
        'header' => "Content-Type: application/json\r\n",
        'content' => $body === null ? '' : json_encode($body),
        'ignore_errors' => true,
        'timeout' => 120, // POST /scan answers when the pairing is over
    ]]);
    $text = file_get_contents($control . $path, false, $ctx);
    $code = (int)explode(' ', $http_response_header[0] ?? 'HTTP/1.1 0')[1];
    if ($code !== 200) {
        throw new RuntimeException("$method $path: $code $text");
    }
    return json_decode($text, true);
}

/** Waits (bounded) until $phone's inbox holds $count messages; returns the last text. */
function inboxText($phone, $count = 1)
{
    $deadline = microtime(true) + INBOX_S;
    while (microtime(true) < $deadline) {
        $messages = sim('GET', "/inbox/$phone")['messages'];
        if (count($messages) >= $count) {
            return end($messages)['text'];
        }
        usleep(20000); // a bounded poll of the inbox
    }
    throw new RuntimeException("no message for $phone within " . INBOX_S . ' s');
}

function linkSession(WhatsAppOTP $wa, $phone)
{
    $wa->createSession();
    $qr = $wa->getQR('raw', CONNECT_MS);
    check($qr['success'], 'QR code: ' . ($qr['message'] ?? ''));
    sim('POST', '/scan', ['qr' => $qr['data']['qr'], 'phone' => $phone, 'name' => 'PHP Phone']);
    $connected = $wa->waitConnected(CONNECT_MS);
    check($connected['success'] && $connected['data']['isConnected'], 'connected: ' . json_encode($connected));
}

/**
 * Lets the simulated phone $phone scan the session's QR code and polls
 * (bounded) until the session asks for a passkey; returns its status data.
 */
function scanToPasskey(WhatsAppOTP $wa, $phone)
{
    $qr = $wa->getQR('raw', CONNECT_MS);
    check($qr['success'], 'QR code: ' . json_encode($qr));
    sim('POST', '/scan', ['qr' => $qr['data']['qr'], 'phone' => $phone, 'name' => 'Gated Phone']);
    $deadline = microtime(true) + CONNECT_MS / 1000;
    do {
        $status = $wa->checkSessionStatus();
        check($status['success'], 'status: ' . json_encode($status));
        if ($status['data']['state'] === 'passkey_required') {
            return $status['data'];
        }
        usleep(20000); // a bounded poll of the state
    } while (microtime(true) < $deadline);
    throw new CheckFailed('no passkey_required within ' . CONNECT_MS . ' ms; last status: ' . json_encode($status));
}

/**
 * The gateway most tests share: default limits, session "php" linked by
 * 6281400000001. Linked on first use, so no test depends on another having
 * run first.
 */
function shared()
{
    global $lib, $ws, $tmp, $shared;
    if ($shared instanceof Throwable) {
        throw new RuntimeException('the shared session could not be linked: ' . $shared->getMessage());
    }
    if ($shared === null) {
        try {
            $wa = new WhatsAppOTP('php', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/shared"]);
            linkSession($wa, '6281400000001');
            $shared = $wa;
        } catch (Throwable $e) {
            $shared = $e;
            throw $e;
        }
    }
    return $shared;
}

function check($cond, $what)
{
    if (!$cond) {
        throw new CheckFailed($what);
    }
}

function same($want, $got, $what)
{
    check($want === $got, "$what: want " . var_export($want, true) . ', got ' . var_export($got, true));
}

$tests = [];
function test($name, callable $fn)
{
    global $tests;
    $tests[] = [$name, $fn];
}

// --- tests -----------------------------------------------------------------------
test('a closed or unknown session reports SESSION_NOT_FOUND', function () use ($lib, $ws, $tmp) {
    $wa = new WhatsAppOTP('nobody', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/unknown"]);
    $status = $wa->checkSessionStatus();
    same(false, $status['success'], 'success');
    same('SESSION_NOT_FOUND', $status['error'], 'error code');
    check(strpos($status['message'], 'nobody') !== false, 'message names the session');
    $sent = $wa->sendOTP('6281300000001');
    same('SESSION_NOT_FOUND', $sent['error'], 'sendOTP error code');
    $wa->close();
    same('CLOSED', $wa->checkSessionStatus()['error'], 'after close');
});

test('the constructor refuses a non-loopback endpoint', function () use ($lib, $tmp) {
    try {
        new WhatsAppOTP('x', ['library' => $lib, 'endpoint' => 'ws://example.com/ws', 'dataDir' => "$tmp/bad"]);
        check(false, 'no exception');
    } catch (RuntimeException $e) {
        check(strpos($e->getMessage(), 'loopback') !== false, $e->getMessage());
    }
});

test('every option reaches the C options handle; a bad one is refused', function () use ($lib, $ws, $tmp) {
    $all = ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/options",
        'defaultCountryCode' => 62, 'otpLength' => 8, 'otpTtlMs' => 60000, 'otpMaxAttempts' => 5,
        'locale' => 'en', 'otpSecret' => str_repeat('k', 32), 'noLimits' => false,
        'sendsPerRecipient' => [3, 60000], 'resendCooldownMs' => 5000, 'verifiesPerRecipient' => [0, 0],
        'sessionPacing' => [100, 50, 5000], 'memoryStore' => true, 'checkOnWhatsapp' => false,
        'onWhatsappCacheTtlMs' => 1000, 'sendRetry' => [2, 100, 1000, 5000],
        'redisKeyPrefix' => 'php:', 'manualClock' => true, 'whatsappVersion' => [2, 3000, 1],
        'otpSecretInRedis' => false, 'memoryBounds' => [1000, 60000, 1000, 100],
        'sessionStoreKey' => random_bytes(32), 'newChatsPerDay' => 500];
    check(count(WhatsAppOTP::OPTIONS) === 26, 'the class knows every option');
    $wa = new WhatsAppOTP('options', $all);
    same(true, $wa->createSession()['success'], 'opens with every option');
    $wa->close();
    $bad = ['otpLength' => 3, 'otpTtlMs' => 1, 'otpMaxAttempts' => 0, 'locale' => 'xx',
        'otpSecret' => 'short', 'sendRetry' => [0, 1, 1, 1], 'redisLeaseTtlMs' => 10,
        'redisUrl' => 'http://x', 'whatsappVersion' => [0, 0, 0], 'sendsPerRecipient' => [1, 0],
        'memoryBounds' => [1000, 60000, 0, 100], 'sessionStoreKey' => 'short'];
    foreach ($bad as $key => $value) {
        try {
            new WhatsAppOTP('x', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/bad-$key", $key => $value]);
            check(false, "$key accepted");
        } catch (RuntimeException $e) {
            check(strpos($e->getMessage(), "option $key refused") !== false, $e->getMessage());
        }
    }
});

test('link by QR code, then checkSessionStatus', function () use ($lib, $ws, $tmp) {
    $wa = new WhatsAppOTP('link', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/link"]);
    $before = $wa->createSession();
    same(true, $before['success'], 'create');
    same('link', $before['data']['sessionId'], 'id');
    $status = $wa->checkSessionStatus();
    same(false, $status['data']['isConnected'], 'not connected before the scan');
    $url = $wa->getQR('dataUrl', CONNECT_MS);
    check(strpos($url['data']['qr'], 'data:image/png;base64,') === 0, 'data URL');
    $svg = $wa->getQR('svg');
    check(strpos($svg['data']['qr'], '<svg') !== false, 'svg');
    same('INVALID_ARGUMENT', $wa->getQR('gif')['error'], 'unknown format');
    $png = $wa->saveQRPng("$tmp/qr.png", 0);
    same(true, $png['success'], 'png saved: ' . json_encode($png));
    same("\x89PNG", substr(file_get_contents("$tmp/qr.png"), 0, 4), 'png file');
    linkSession($wa, '6281400000004');
    $status = $wa->checkSessionStatus();
    same(true, $status['success'], 'status');
    same(true, $status['data']['isConnected'], 'isConnected');
    same('connected', $status['data']['state'], 'state');
    same('6281400000004', $status['data']['user']['phone'], 'user phone');
    same('ALREADY_CONNECTED', $wa->getQR('raw', 0)['error'], 'no QR once connected');
    $wa->close();
});

test('a passkey-gated account links with submitPasskeyAssertion', function () use ($lib, $ws, $tmp) {
    sim('POST', '/numbers', ['phone' => '6281400000005', 'registered' => true, 'passkey' => true]);
    $wa = new WhatsAppOTP('gated', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/gated"]);
    same(true, $wa->createSession()['success'], 'create');
    $status = scanToPasskey($wa, '6281400000005');
    same(false, $status['isConnected'], 'not connected yet');
    check(is_array(json_decode($status['passkey']['optionsJson'], true)), 'options are JSON: ' . json_encode($status));
    check(strpos($status['passkey']['snippet'], 'navigator.credentials.get') !== false, 'the console snippet');
    check(is_int($status['passkey']['expiresAt']), 'expiresAt in ms');
    // The assertion as the snippet prints it, here decoded into an array.
    $r = $wa->submitPasskeyAssertion(sim('POST', '/passkey/assert', ['phone' => '6281400000005']));
    same(true, $r['success'], 'accepted: ' . json_encode($r));
    same('Passkey accepted', $r['message'], 'message');
    $connected = $wa->waitConnected(CONNECT_MS);
    check($connected['success'] && $connected['data']['isConnected'], 'connected: ' . json_encode($connected));
    same('6281400000005', $connected['data']['user']['phone'], 'the gated account');
    same(null, $connected['data']['passkey'], 'no challenge left');
    $wa->close();
    same('CLOSED', $wa->submitPasskeyAssertion('{}')['error'], 'after close');
});

test('passkey refusals: malformed JSON, a corrupt signature', function () use ($lib, $ws, $tmp) {
    sim('POST', '/numbers', ['phone' => '6281400000006', 'registered' => true, 'passkey' => true]);
    $wa = new WhatsAppOTP('refused', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/refused"]);
    $wa->createSession();
    scanToPasskey($wa, '6281400000006');
    $r = $wa->submitPasskeyAssertion('{"id": "abc", ');
    same(false, $r['success'], 'malformed refused');
    same('INVALID_ARGUMENT', $r['error'], 'malformed: ' . json_encode($r));
    same('passkey_required', $wa->checkSessionStatus()['data']['state'], 'the challenge is still pending');
    $bad = sim('POST', '/passkey/assert', ['phone' => '6281400000006', 'corruptSignature' => true]);
    $r = $wa->submitPasskeyAssertion(json_encode($bad, JSON_UNESCAPED_SLASHES));
    same('PASSKEY_REJECTED', $r['error'] ?? null, 'corrupt signature: ' . json_encode($r));
    check($r['message'] !== '', 'a message says why');
    // Linking starts again with a fresh QR code.
    $qr = $wa->getQR('raw', CONNECT_MS);
    same(true, $qr['success'], 'a fresh QR code: ' . json_encode($qr));
    $wa->close();
});

test('sendOTP returns the guide\'s shape and the recipient gets that code', function () {
    $shared = shared();
    sim('POST', '/numbers', ['phone' => '6281300000002', 'registered' => true]);
    $r = $shared->sendOTP('081300000002', 'PT. Maju Jaya');
    same(true, $r['success'], 'success: ' . json_encode($r));
    same('OTP sent successfully', $r['message'], 'message');
    check(preg_match('/^\d{6}$/', $r['data']['otp']) === 1, 'six digits');
    same('6281300000002', $r['data']['phoneNumber'], 'normalised number');
    $text = inboxText('6281300000002');
    check(strpos($text, $r['data']['otp']) !== false, 'the message carries the code');
    check(strpos($text, 'PT. Maju Jaya') !== false, 'and the company');
    $status = $shared->otpStatus('081300000002');
    same('pending', $status['data']['status'], 'pending');
    check(strpos(json_encode($status), $r['data']['otp']) === false, 'status never shows the code');
});

test('verifyOTP: wrong code, right code, used code', function () {
    $shared = shared();
    sim('POST', '/numbers', ['phone' => '6281300000003', 'registered' => true]);
    $r = $shared->sendOTP('6281300000003');
    same(true, $r['success'], 'sent');
    $code = $r['data']['otp'];
    $wrong = sprintf('%06d', ((int)$code + 1) % 1000000);
    $v = $shared->verifyOTP('6281300000003', $wrong);
    same(false, $v['success'], 'wrong code refused');
    same('invalid', $v['data']['status'], 'status');
    same(2, $v['data']['attemptsLeft'], 'attempts left');
    $v = $shared->verifyOTP('+62 813-0000-0003', $code);
    same(true, $v['success'], 'right code approved');
    same('approved', $v['data']['status'], 'status');
    $v = $shared->verifyOTP('6281300000003', $code);
    same('not_found', $v['data']['status'], 'single use');
});

test('error paths: not on WhatsApp, invalid phone, invalid UTF-8', function () {
    $shared = shared();
    sim('POST', '/numbers', ['phone' => '6281300000004', 'registered' => false]);
    $r = $shared->sendOTP('6281300000004');
    same(false, $r['success'], 'unregistered');
    same('NOT_ON_WHATSAPP', $r['error'], 'error code');
    same('INVALID_PHONE', $shared->sendOTP('not a number')['error'], 'invalid phone');
    same('INVALID_PHONE', $shared->verifyOTP('abc', '123456')['error'], 'verify invalid phone');
    same('INVALID_UTF8', $shared->verifyOTP("\xff\xfe", '123456')['error'], 'invalid UTF-8');
});

test('resend cooldown, too many attempts and expiry (manual clock)', function () use ($lib, $ws, $tmp) {
    // Default limits on a manual clock: OTP time moves only when the test
    // moves it, so the 10 s cooldown holds however long a send takes.
    $wa = new WhatsAppOTP('clock', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/clock",
        'manualClock' => true, 'memoryStore' => true]);
    linkSession($wa, '6281400000002');
    sim('POST', '/numbers', ['phone' => '6281300000005', 'registered' => true]);
    $sent = $wa->sendOTP('6281300000005');
    same(true, $sent['success'], 'sent: ' . json_encode($sent));
    $code = $sent['data']['otp'];
    $again = $wa->sendOTP('6281300000005');
    same('RATE_LIMITED', $again['error'], 'cooldown');
    check(preg_match('/retry in 10s/', $again['message']) === 1, 'says when: ' . $again['message']);
    check(is_int($again['retryAfterMs']) && $again['retryAfterMs'] > 9000 && $again['retryAfterMs'] <= 10000,
        'the wait in ms: ' . json_encode($again));
    foreach ([2, 1, 0] as $left) {
        $v = $wa->verifyOTP('6281300000005', 'x');
        same($left, $v['data']['attemptsLeft'], 'attempts left');
    }
    $v = $wa->verifyOTP('6281300000005', $code);
    same('max_attempts', $v['data']['status'], 'locked');
    same('Too many attempts', $v['message'], 'message');
    same(true, $wa->advanceTestClock(10000)['success'], 'past the cooldown');
    $sent = $wa->sendOTP('6281300000005');
    same(true, $sent['success'], 'sent after the cooldown: ' . json_encode($sent));
    $code = $sent['data']['otp'];
    same(true, $wa->advanceTestClock(301000)['success'], 'clock moved');
    $v = $wa->verifyOTP('6281300000005', $code);
    same('expired', $v['data']['status'], 'expired');
    same('OTP has expired', $v['message'], 'message');
    $wa->close();
});

test('sendOTPPool and sendTextPool: a pool send names its number; a spent quota is ACCOUNT_LIMITED', function () use ($lib, $ws, $tmp) {
    $wa = new WhatsAppOTP('pool', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/pool", 'noLimits' => true]);
    linkSession($wa, '6281400000301');
    sim('POST', '/accounts/6281400000301/limits', ['new_chat_quota' => 1, 'cycle_secs' => 600]);
    sim('POST', '/numbers', ['phone' => '6281300000302', 'registered' => true]);
    $r = $wa->sendOTPPool('081300000302', 'PT. Maju Jaya', ['pool']);
    same(true, $r['success'], 'sent: ' . json_encode($r));
    same('pool', $r['data']['sessionId'], 'the number that sent it');
    check(strpos(inboxText('6281300000302'), $r['data']['otp']) !== false, 'the code arrived');
    sim('POST', '/numbers', ['phone' => '6281300000303', 'registered' => true]);
    $limited = $wa->sendOTPPool('081300000303', 'PT. Maju Jaya');
    same(false, $limited['success'], 'refused: ' . json_encode($limited));
    same('ACCOUNT_LIMITED', $limited['error'], 'code');
    check($limited['retryAfterMs'] > 0 && $limited['retryAfterMs'] <= 600000, 'retryAfterMs ' . $limited['retryAfterMs']);
    same('INVALID_ARGUMENT', $wa->sendOTPPool('081300000303', 'PT. Maju Jaya', [])['error'], 'an empty pool');
    same('SESSION_NOT_FOUND', $wa->sendOTPPool('081300000303', 'PT. Maju Jaya', ['nope'])['error'], 'an unknown session');
    // A text: the known contact still gets it; a new chat is refused up front.
    // (The recipient is a known contact once the code's message was delivered.)
    $deadline = microtime(true) + INBOX_S;
    while (!in_array($wa->otpStatus('081300000302')['data']['delivery'] ?? null, ['delivered', 'read'], true)) {
        check(microtime(true) < $deadline, 'the code was delivered within ' . INBOX_S . ' s');
        usleep(20000); // a bounded poll of the delivery status
    }
    $t = $wa->sendTextPool('081300000302', 'Pesanan Anda sudah dikirim', ['pool']);
    same(true, $t['success'], 'text sent: ' . json_encode($t));
    same('pool', $t['data']['sessionId'], 'the number that sent the text');
    check(strpos(inboxText('6281300000302', 2), 'Pesanan Anda sudah dikirim') !== false, 'the text arrived');
    same('ACCOUNT_LIMITED', $wa->sendTextPool('081300000303', 'Halo')['error'], 'a text to a new chat');
    $wa->close();
});

test('startInboundVerification: the user sends the code, a stranger is refused', function () use ($lib, $ws, $tmp) {
    $wa = new WhatsAppOTP('inbound', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/inbound", 'noLimits' => true]);
    $number = '6281400000401';
    linkSession($wa, $number);
    sim('POST', '/numbers', ['phone' => '6281300000401', 'registered' => true]);
    sim('POST', '/numbers', ['phone' => '6281300000402', 'registered' => true]);
    $r = $wa->startInboundVerification('081300000401', ['reply' => 'Berhasil masuk']);
    same(true, $r['success'], 'started: ' . json_encode($r));
    $v = $r['data'];
    same('inbound', $v['sessionId'], 'this session receives it');
    check(strpos($v['link'], "https://wa.me/$number?text=") === 0, 'link ' . $v['link']);
    check(strpos($v['qrCode'], 'data:image/png;base64,') === 0, 'a QR data URL');
    sim('POST', '/send', ['from' => '6281300000402', 'to' => $number, 'text' => $v['text']]);
    sim('POST', '/send', ['from' => '6281300000401', 'to' => $number, 'text' => $v['text']]);
    // The reply reaches the user only after the approval.
    same('Berhasil masuk', inboxText('6281300000401'), 'the reply');
    $status = $wa->inboundStatus($v['verificationId'])['data'];
    same('approved', $status['status'], 'status');
    same('6281300000401', $status['sender'], 'the sender');
    same(1, $status['attempts'], 'the stranger counted');
    same(1, $wa->getStats()['data']['sessions']['inbound']['conversion']['lastHour']['approvedInbound'], 'the conversion figures');
    same('OTP_NOT_FOUND', $wa->inboundStatus('nope')['error'], 'an unknown id');
    same('INVALID_ARGUMENT', $wa->startInboundVerification(null, ['template' => 'no token'])['error'], 'a bad template');
    $other = $wa->startInboundVerification()['data'];
    same('canceled', $wa->cancelInboundVerification($other['verificationId'])['data']['status'], 'cancel');
    $wa->close();
});

test('getStats and sendText', function () {
    $shared = shared();
    sim('POST', '/numbers', ['phone' => '6281300000006', 'registered' => true]);
    $t = $shared->sendText('6281300000006', 'Halo dari PHP');
    same(true, $t['success'], 'sent');
    check(strlen($t['data']['messageId']) > 0, 'message id');
    same('Halo dari PHP', inboxText('6281300000006'), 'delivered text');
    // An OTP of its own, so the figures do not depend on which tests ran before.
    sim('POST', '/numbers', ['phone' => '6281300000009', 'registered' => true]);
    $r = $shared->sendOTP('6281300000009');
    same(true, $r['success'], 'OTP sent: ' . json_encode($r));
    same(true, $shared->verifyOTP('6281300000009', $r['data']['otp'])['success'], 'OTP approved');
    $stats = $shared->getStats();
    same(true, $stats['success'], 'stats');
    check($stats['data']['gateway']['otpIssued'] >= 1, 'otpIssued: ' . json_encode($stats['data']['gateway']));
    check($stats['data']['gateway']['verify']['approved'] >= 1, 'approved counted');
    check(isset($stats['data']['sessions']['php']), 'per session');
});

test('several PHP processes at once send through the one connection', function () use ($lib, $ws, $tmp) {
    // This process owns session "php" (its gateway runs the connection);
    // four more PHP processes open the same data dir at once, as PHP-FPM
    // workers would, and each sends a code.
    shared();
    $phones = ['6281300000021', '6281300000022', '6281300000023', '6281300000024'];
    $procs = [];
    foreach ($phones as $phone) {
        sim('POST', '/numbers', ['phone' => $phone, 'registered' => true]);
        $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', __DIR__ . '/worker.php', $lib, $ws, "$tmp/shared", 'php', $phone];
        $p = proc_open($cmd, [1 => ['pipe', 'w'], 2 => ['file', "$tmp/worker-$phone.err", 'w']], $pipes);
        $procs[$phone] = [$p, $pipes[1]];
    }
    foreach ($procs as $phone => [$p, $out]) {
        $line = '';
        readLines($out, microtime(true) + SCRIPT_S, function ($l) use (&$line) {
            $line = $l;
        });
        fclose($out);
        $rc = waitProcess($p, microtime(true) + 60);
        same(0, $rc, "worker for $phone exits cleanly; stderr: " . @file_get_contents("$tmp/worker-$phone.err"));
        $r = json_decode($line, true);
        same(true, $r['success'] ?? null, "worker for $phone sent: $line");
        same(1, substr_count(inboxText($phone), $r['data']['otp']), "$phone got its code");
    }
    $device = null;
    foreach (sim('GET', '/devices')['devices'] as $d) {
        if ($d['phone'] === '6281400000001') {
            $device = $d;
        }
    }
    check($device !== null, 'the simulator knows the linked device');
    same(1, $device['max_live_connections'], 'one WhatsApp connection at any time: ' . json_encode($device));
    same(0, $device['replaced'], 'no stream replaced');
});

test('send_otp.php: the guide\'s script, end to end', function () use ($lib, $ws, $tmp) {
    sim('POST', '/numbers', ['phone' => '6281300000007', 'registered' => true]);
    $env = array_merge(getenv(), ['WAOTP_LIB' => $lib, 'WAOTP_ENDPOINT' => $ws, 'WAOTP_SESSION' => 'script',
        'WAOTP_DATA_DIR' => "$tmp/script", 'WAOTP_QR_PNG' => "$tmp/script-qr.png"]);
    $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', dirname(__DIR__) . '/send_otp.php', '081300000007', 'PT. Contoh'];
    $p = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "$tmp/script.err", 'w']], $pipes, null, $env);
    // However this ends (a check, a deadline), the script does not outlive the test.
    $finished = false;
    try {
        $out = readLines($pipes[1], microtime(true) + SCRIPT_S, function ($line) use ($pipes) {
            if (strpos($line, 'QR ') === 0) {
                sim('POST', '/scan', ['qr' => trim(substr($line, 3)), 'phone' => '6281400000003', 'name' => 'Script']);
            } elseif (strpos($line, 'Enter the code') === 0) {
                check(preg_match('/\b(\d{6})\b/', inboxText('6281300000007'), $m) === 1, 'a code in the message');
                fwrite($pipes[0], $m[1] . "\n");
                fclose($pipes[0]);
            }
        });
        $finished = true;
    } finally {
        if (is_resource($pipes[0])) {
            fclose($pipes[0]);
        }
        fclose($pipes[1]);
        // After EOF the script is exiting (closing its gateway): let it; on a
        // failure, kill it at once.
        $rc = waitProcess($p, $finished ? microtime(true) + 60 : 0);
    }
    same(0, $rc, "exit status; output:\n$out" . @file_get_contents("$tmp/script.err"));
    check(strpos($out, 'OTP verified successfully') !== false, "approved:\n$out");
    check(strpos($out, 'Stats: total 1, successful 1') !== false, "stats:\n$out");
    same("\x89PNG", substr((string)@file_get_contents("$tmp/script-qr.png"), 0, 4), 'the QR code saved as PNG');
});

test('login_with_whatsapp.php: the user sends the code, the script names them', function () use ($lib, $ws, $tmp) {
    sim('POST', '/numbers', ['phone' => '6281300000008', 'registered' => true]);
    $env = array_merge(getenv(), ['WAOTP_LIB' => $lib, 'WAOTP_ENDPOINT' => $ws, 'WAOTP_SESSION' => 'login',
        'WAOTP_DATA_DIR' => "$tmp/login", 'WAOTP_QR_PNG' => "$tmp/login-qr.png"]);
    $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', dirname(__DIR__) . '/login_with_whatsapp.php'];
    $p = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "$tmp/login.err", 'w']], $pipes, null, $env);
    fclose($pipes[0]);
    $finished = false;
    try {
        $out = readLines($pipes[1], microtime(true) + SCRIPT_S, function ($line) {
            if (strpos($line, 'QR ') === 0) {
                sim('POST', '/scan', ['qr' => trim(substr($line, 3)), 'phone' => '6281400000004', 'name' => 'Login']);
            } elseif (preg_match('/^Or send this message to \+(\d+): (.+)$/', trim($line), $m) === 1) {
                sim('POST', '/send', ['from' => '6281300000008', 'to' => $m[1], 'text' => $m[2]]);
            }
        });
        $finished = true;
    } finally {
        fclose($pipes[1]);
        $rc = waitProcess($p, $finished ? microtime(true) + 60 : 0);
    }
    same(0, $rc, "exit status; output:\n$out" . @file_get_contents("$tmp/login.err"));
    check(strpos($out, 'https://wa.me/6281400000004?text=') !== false, "the link:\n$out");
    check(strpos($out, 'Verified: +6281300000008') !== false, "the sender:\n$out");
});

// --- run ---------------------------------------------------------------------------
$passed = 0;
$failed = 0;
foreach ($tests as [$name, $fn]) {
    try {
        $fn();
        echo "ok   - $name\n";
        $passed++;
    } catch (Throwable $e) {
        echo "FAIL - $name\n    ", get_class($e), ': ', $e->getMessage(), "\n";
        $failed++;
    }
}
if ($failed) {
    $log = @file("$tmp/sim.log") ?: [];
    fwrite(STDERR, "--- simulator log (tail) ---\n" . implode('', array_slice($log, -40)));
}
// The shutdown function closes the shared gateway, stops the simulator and
// removes the temporary directory.
echo "PHP: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
