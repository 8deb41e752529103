<?php
/**
 * The guide's flow with WhatsAppOTP: check the session, link it by QR code if
 * needed, send an OTP, verify what the user types.
 *
 *   php send_otp.php 08123456789 ["PT. Contoh"]
 *
 * Environment: WAOTP_LIB (libwaotp.so), WAOTP_SESSION (default `my-session`),
 * WAOTP_DATA_DIR (./waotp-data), WAOTP_ENDPOINT (simulator; sandbox builds).
 * Each raw QR payload is also printed on a line starting with `QR `.
 */
require __DIR__ . '/WhatsAppOTP.php';
require __DIR__ . '/linked_session.php';

$phoneNumber = $argv[1] ?? null;
$companyName = $argv[2] ?? 'PT. Contoh';
if ($phoneNumber === null) {
    fwrite(STDERR, "usage: php send_otp.php PHONE [COMPANY]\n");
    exit(2);
}

$wa = openLinkedSession();

$result = $wa->sendOTP($phoneNumber, $companyName);
if (!$result['success']) {
    echo "Failed to send OTP: {$result['message']}\n";
    exit(1);
}
echo "OTP sent to {$result['data']['phoneNumber']}\n";

$verify = ['success' => false];
for ($i = 0; $i < 3; $i++) {
    echo "Enter the code you received:\n";
    $line = fgets(STDIN);
    if ($line === false) {
        break;
    }
    $verify = $wa->verifyOTP($phoneNumber, trim($line));
    echo $verify['message'], "\n";
    if ($verify['success'] || ($verify['data']['status'] ?? '') !== 'invalid' || $verify['data']['attemptsLeft'] === 0) {
        break;
    }
}

$stats = $wa->getStats()['data']['gateway'];
echo "Stats: total {$stats['totalRequests']}, successful {$stats['successfulRequests']}, failed {$stats['failedRequests']}\n";
exit($verify['success'] ? 0 : 1);
