<?php
/**
 * The safer flow, where the user sends the code: WhatsApp limits messages
 * to new chats from linked numbers, but a user writing to the number opens
 * no new chat on its side. The script prints a wa.me link (a button on a
 * phone; as a QR code on a desktop) and the message it writes out, then
 * waits until the user sends it.
 *
 *   php login_with_whatsapp.php [08123456789]
 *
 * With a number, only a message from that number logs in; without, whoever
 * sends it does and is named (login with WhatsApp). Environment as for
 * send_otp.php. Exits 0 once verified, 1 when the code expired.
 */
require __DIR__ . '/WhatsAppOTP.php';
require __DIR__ . '/linked_session.php';

$expectedPhone = $argv[1] ?? null;
$wa = openLinkedSession();

$started = $wa->startInboundVerification($expectedPhone);
if (!$started['success']) {
    echo "Cannot start: {$started['message']}\n";
    exit(1);
}
$v = $started['data'];
echo "Open this link on your phone: {$v['link']}\n";
echo "Or send this message to +{$v['number']}: {$v['text']}\n";

// Polling the status is what a web page would do; the store answers in
// microseconds.
$deadline = $v['expiresAt'] / 1000;
while (microtime(true) < $deadline) {
    $status = $wa->inboundStatus($v['verificationId'])['data'];
    if ($status['status'] === 'approved') {
        echo "Verified: +{$status['sender']}\n";
        exit(0);
    }
    if ($status['status'] !== 'pending') {
        break;
    }
    usleep(500000);
}
echo "Not verified: the code expired\n";
exit(1);
