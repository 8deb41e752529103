<?php
/**
 * One PHP worker process of the multi-process test (as one PHP-FPM worker
 * would be): opens WhatsAppOTP on the shared data dir, sends one OTP, prints
 * the result as one JSON line, and exits.
 *
 *   php -d ffi.enable=1 worker.php <library> <endpoint> <dataDir> <session> <phone>
 */
require dirname(__DIR__) . '/WhatsAppOTP.php';

[, $lib, $endpoint, $dataDir, $session, $phone] = $argv;
$wa = new WhatsAppOTP($session, ['library' => $lib, 'endpoint' => $endpoint, 'dataDir' => $dataDir]);
echo json_encode($wa->sendOTP($phone, 'PT. Contoh')), "\n";
$wa->close();
