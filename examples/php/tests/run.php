<?php
/**
 * Tests of WhatsAppOTP and send_otp.php against the waotp-sim simulator.
 *
 *   php -d ffi.enable=1 examples/php/tests/run.php
 *
 * Needs target/debug/libwaotp.so (sandbox) and target/debug/waotp-sim (or
 * WAOTP_LIB / WAOTP_SIM). Prints one line per test, then `N passed, N failed`.
 */
require dirname(__DIR__) . '/WhatsAppOTP.php';

$root = dirname(__DIR__, 3);
$lib = getenv('WAOTP_LIB') ?: "$root/target/debug/libwaotp.so";
$simBin = getenv('WAOTP_SIM') ?: "$root/target/debug/waotp-sim";
putenv("WAOTP_LIB=$lib");

// --- the simulator ------------------------------------------------------------
$sim = proc_open([$simBin, '--listen', '127.0.0.1:0', '--control', '127.0.0.1:0'],
    [1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']], $simPipes);
$urls = json_decode(fgets($simPipes[1]), true);
if (!$urls) {
    fwrite(STDERR, "the simulator did not start\n");
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
        'timeout' => 30,
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
    $deadline = microtime(true) + 20;
    while (microtime(true) < $deadline) {
        $messages = sim('GET', "/inbox/$phone")['messages'];
        if (count($messages) >= $count) {
            return end($messages)['text'];
        }
        usleep(20000); // a bounded poll of the inbox
    }
    throw new RuntimeException("no message for $phone");
}

function linkSession(WhatsAppOTP $wa, $phone)
{
    $wa->createSession();
    $qr = $wa->getQR('raw');
    check($qr['success'], 'QR code: ' . ($qr['message'] ?? ''));
    sim('POST', '/scan', ['qr' => $qr['data']['qr'], 'phone' => $phone, 'name' => 'PHP Phone']);
    $connected = $wa->waitConnected(20000);
    check($connected['success'] && $connected['data']['isConnected'], 'connected: ' . json_encode($connected));
}

// --- a small harness -------------------------------------------------------------
class CheckFailed extends Exception
{
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

$tmp = sys_get_temp_dir() . '/waotp-php-' . getmypid();
mkdir($tmp);
$shared = null; // default limits, session "php" linked

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

test('link by QR code, then checkSessionStatus', function () use ($lib, $ws, $tmp, &$shared) {
    $shared = new WhatsAppOTP('php', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/shared"]);
    $before = $shared->createSession();
    same(true, $before['success'], 'create');
    same('php', $before['data']['sessionId'], 'id');
    $status = $shared->checkSessionStatus();
    same(false, $status['data']['isConnected'], 'not connected before the scan');
    $url = $shared->getQR('dataUrl');
    check(strpos($url['data']['qr'], 'data:image/png;base64,') === 0, 'data URL');
    $svg = $shared->getQR('svg');
    check(strpos($svg['data']['qr'], '<svg') !== false, 'svg');
    same('INVALID_ARGUMENT', $shared->getQR('gif')['error'], 'unknown format');
    $png = $shared->saveQRPng("$tmp/qr.png", 0);
    same("\x89PNG", substr(file_get_contents("$tmp/qr.png"), 0, 4), 'png file');
    linkSession($shared, '6281400000001');
    $status = $shared->checkSessionStatus();
    same(true, $status['success'], 'status');
    same(true, $status['data']['isConnected'], 'isConnected');
    same('connected', $status['data']['state'], 'state');
    same('6281400000001', $status['data']['user']['phone'], 'user phone');
    same('ALREADY_CONNECTED', $shared->getQR('raw', 0)['error'], 'no QR once connected');
});

test('sendOTP returns the guide\'s shape and the recipient gets that code', function () use (&$shared) {
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

test('verifyOTP: wrong code, right code, used code', function () use (&$shared) {
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

test('error paths: not on WhatsApp, invalid phone, resend cooldown, invalid UTF-8', function () use (&$shared) {
    sim('POST', '/numbers', ['phone' => '6281300000004', 'registered' => false]);
    $r = $shared->sendOTP('6281300000004');
    same(false, $r['success'], 'unregistered');
    same('NOT_ON_WHATSAPP', $r['error'], 'error code');
    same('INVALID_PHONE', $shared->sendOTP('not a number')['error'], 'invalid phone');
    same('INVALID_PHONE', $shared->verifyOTP('abc', '123456')['error'], 'verify invalid phone');
    sim('POST', '/numbers', ['phone' => '6281300000008', 'registered' => true]);
    same(true, $shared->sendOTP('6281300000008')['success'], 'first send');
    $again = $shared->sendOTP('6281300000008');
    same('RATE_LIMITED', $again['error'], 'cooldown');
    check(preg_match('/retry in \d+s/', $again['message']) === 1, 'says when: ' . $again['message']);
    same('INVALID_UTF8', $shared->verifyOTP("\xff\xfe", '123456')['error'], 'invalid UTF-8');
});

test('too many attempts and expiry (manual clock)', function () use ($lib, $ws, $tmp) {
    $wa = new WhatsAppOTP('clock', ['library' => $lib, 'endpoint' => $ws, 'dataDir' => "$tmp/clock",
        'manualClock' => true, 'noLimits' => true, 'memoryStore' => true]);
    linkSession($wa, '6281400000002');
    sim('POST', '/numbers', ['phone' => '6281300000005', 'registered' => true]);
    $code = $wa->sendOTP('6281300000005')['data']['otp'];
    foreach ([2, 1, 0] as $left) {
        $v = $wa->verifyOTP('6281300000005', 'x');
        same($left, $v['data']['attemptsLeft'], 'attempts left');
    }
    $v = $wa->verifyOTP('6281300000005', $code);
    same('max_attempts_reached', $v['data']['status'], 'locked');
    same('Too many attempts', $v['message'], 'message');
    $code = $wa->sendOTP('6281300000005')['data']['otp'];
    same(true, $wa->advanceTestClock(301000)['success'], 'clock moved');
    $v = $wa->verifyOTP('6281300000005', $code);
    same('expired', $v['data']['status'], 'expired');
    same('OTP has expired', $v['message'], 'message');
    $wa->close();
});

test('getStats and sendText', function () use (&$shared) {
    sim('POST', '/numbers', ['phone' => '6281300000006', 'registered' => true]);
    $t = $shared->sendText('6281300000006', 'Halo dari PHP');
    same(true, $t['success'], 'sent');
    check(strlen($t['data']['messageId']) > 0, 'message id');
    same('Halo dari PHP', inboxText('6281300000006'), 'delivered text');
    $stats = $shared->getStats();
    same(true, $stats['success'], 'stats');
    check($stats['data']['gateway']['otpIssued'] >= 3, 'otpIssued: ' . json_encode($stats['data']['gateway']));
    check($stats['data']['gateway']['verify']['approved'] >= 1, 'approved counted');
    check(isset($stats['data']['sessions']['php']), 'per session');
});

test('send_otp.php: the guide\'s script, end to end', function () use ($lib, $ws, $tmp) {
    sim('POST', '/numbers', ['phone' => '6281300000007', 'registered' => true]);
    $env = array_merge(getenv(), ['WAOTP_LIB' => $lib, 'WAOTP_ENDPOINT' => $ws, 'WAOTP_SESSION' => 'script',
        'WAOTP_DATA_DIR' => "$tmp/script", 'WAOTP_QR_PNG' => "$tmp/script-qr.png"]);
    $cmd = [PHP_BINARY, '-d', 'ffi.enable=1', dirname(__DIR__) . '/send_otp.php', '081300000007', 'PT. Contoh'];
    $p = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['file', "$tmp/script.err", 'w']], $pipes, null, $env);
    $out = '';
    while (($line = fgets($pipes[1])) !== false) {
        $out .= $line;
        if (strpos($line, 'QR ') === 0) {
            sim('POST', '/scan', ['qr' => trim(substr($line, 3)), 'phone' => '6281400000003', 'name' => 'Script']);
        } elseif (strpos($line, 'Enter the code') === 0) {
            preg_match('/\b(\d{6})\b/', inboxText('6281300000007'), $m);
            fwrite($pipes[0], $m[1] . "\n");
            fclose($pipes[0]);
        }
    }
    $rc = proc_close($p);
    same(0, $rc, "exit status; output:\n$out" . @file_get_contents("$tmp/script.err"));
    check(strpos($out, 'OTP verified successfully') !== false, "approved:\n$out");
    check(strpos($out, 'Stats: total 1, successful 1') !== false, "stats:\n$out");
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
if ($shared !== null) {
    $shared->close();
}
proc_terminate($sim);
proc_close($sim);
exec('rm -rf ' . escapeshellarg($tmp));
echo "PHP: $passed passed, $failed failed\n";
exit($failed ? 1 : 0);
