<?php
/**
 * WhatsAppOTP — the reference guide's PHP class, on libwaotp through FFI
 * instead of HTTP calls to a separate gateway.
 *
 *   $wa = new WhatsAppOTP('my-session');
 *   $wa->checkSessionStatus();                      // ['success' => …, 'data' => ['isConnected' => …]]
 *   $r = $wa->sendOTP('08123456789', 'PT. Contoh'); // ['success' => true, 'data' => ['otp' => '123456', …]]
 *   $v = $wa->verifyOTP('08123456789', $typed);     // ['success' => true, 'data' => ['status' => 'approved']]
 *
 * Needs PHP 7.4+ with the FFI extension (`ffi.enable` = `preload` lets the
 * CLI use it; web servers need `ffi.enable=1`). Every method returns the
 * guide's array shape and never throws for a WhatsApp or OTP error:
 * `['success' => false, 'message' => …, 'error' => CODE]`, where CODE is
 * waotp's stable error code (SESSION_NOT_FOUND, NOT_CONNECTED, RATE_LIMITED, …);
 * a RATE_LIMITED failure also has `retryAfterMs`, the wait in milliseconds.
 */
class WhatsAppOTP
{
    /** @var FFI|null one binding per process */
    private static $ffi = null;

    /** @var FFI\CData|null waotp_gateway* */
    private $gateway = null;

    /** @var string */
    private $sessionId;

    /**
     * Options by name, each set through one `waotp_options_set_*` function
     * of the C API: [setter, kind]. Kinds: string, bool, int, bytes, or the
     * number of integers an array holds.
     */
    const OPTIONS = [
        'dataDir' => ['data_dir', 'string'],
        'endpoint' => ['endpoint', 'string'],
        'defaultCountryCode' => ['default_country_code', 'int'],
        'otpLength' => ['otp_length', 'int'],
        'otpTtlMs' => ['otp_ttl_ms', 'int'],
        'otpMaxAttempts' => ['otp_max_attempts', 'int'],
        'locale' => ['otp_locale', 'string'],
        'otpSecret' => ['otp_secret', 'bytes'],
        'noLimits' => ['no_limits', 'bool'],
        'sendsPerRecipient' => ['sends_per_recipient', 2],
        'resendCooldownMs' => ['resend_cooldown_ms', 'int'],
        'verifiesPerRecipient' => ['verifies_per_recipient', 2],
        'sessionPacing' => ['session_pacing', 'pacing'],
        'memoryStore' => ['memory_store', 'bool'],
        'checkOnWhatsapp' => ['check_on_whatsapp', 'bool'],
        'onWhatsappCacheTtlMs' => ['on_whatsapp_cache_ttl_ms', 'int'],
        'sendRetry' => ['send_retry', 4],
        'redisUrl' => ['redis_url', 'string'],
        'redisKeyPrefix' => ['redis_key_prefix', 'string'],
        'redisLeaseTtlMs' => ['redis_lease_ttl_ms', 'int'],
        'otpSecretInRedis' => ['otp_secret_in_redis', 'bool'],
        'memoryBounds' => ['memory_bounds', 4],
        'sessionStoreKey' => ['session_store_key', 'bytes'],
        'newChatsPerDay' => ['new_chats_per_day', 'int'],
        'manualClock' => ['manual_clock', 'bool'],
        'whatsappVersion' => ['whatsapp_version', 3],
    ];

    /**
     * @param string $sessionId the linked WhatsApp session to send from
     * @param array  $options   `library` (path of libwaotp.so; default: env
     *   WAOTP_LIB, else target/release of this repository), `header`
     *   (include/waotp_php.h), and the gateway's options (each one
     *   `waotp_options_set_*` of the C API; times in milliseconds):
     *   `dataDir` (./waotp-data), `endpoint` (simulator URL; sandbox builds
     *   only), `defaultCountryCode`, `otpLength`, `otpTtlMs`,
     *   `otpMaxAttempts`, `locale` ('id' or 'en'), `otpSecret` (bytes, at
     *   least 32), `noLimits`, `sendsPerRecipient` ([max, windowMs] or
     *   [0, 0] for off), `resendCooldownMs`, `verifiesPerRecipient`,
     *   `sessionPacing` ([minGapMs, jitterMs, maxWaitMs] or false),
     *   `memoryStore`, `checkOnWhatsapp`, `onWhatsappCacheTtlMs`,
     *   `sendRetry` ([maxAttempts, initialBackoffMs, maxBackoffMs,
     *   maxElapsedMs]), `redisUrl`, `redisKeyPrefix` and `redisLeaseTtlMs`
     *   (several hosts share OTP state, limits and sessions through one
     *   Redis; see the README's deployment section; with Redis, `otpSecret`
     *   is required unless `otpSecretInRedis`, for development only),
     *   `memoryBounds` ([trackedMessages, trackedMessageAgeMs,
     *   onWhatsappEntries, queuedDeliveryReports]), `sessionStoreKey` (32
     *   random bytes: the session stores are encrypted at rest; needs a
     *   library built with the `sqlcipher` feature), `newChatsPerDay` (a
     *   budget of new chats per session per UTC day, across workers and
     *   hosts; past it a code to a new chat is ACCOUNT_LIMITED), `manualClock` (sandbox
     *   builds only), `whatsappVersion` ([major, minor, patch]). Every
     *   PHP-FPM worker may construct its own object on the same `dataDir`:
     *   one of them runs the WhatsApp connection and the others send
     *   through it.
     * @throws RuntimeException when the library cannot be loaded, an option
     *   is refused, or the gateway cannot open
     */
    public function __construct($sessionId = 'default', array $options = [])
    {
        $this->sessionId = $sessionId;
        $ffi = self::ffi($options);
        $o = $ffi->new('waotp_options*');
        $status = $ffi->waotp_options_new(FFI::addr($o));
        if ($status !== 0) {
            throw new RuntimeException('waotp: ' . self::lastError($status));
        }
        try {
            foreach (self::OPTIONS as $key => list($setter, $kind)) {
                if (!array_key_exists($key, $options)) {
                    continue;
                }
                $status = self::setOption($ffi, $o, $setter, $kind, $options[$key]);
                if ($status !== 0) {
                    throw new RuntimeException("waotp: option $key refused: " . self::lastError($status));
                }
            }
            $gw = $ffi->new('waotp_gateway*');
            $status = $ffi->waotp_gateway_open_with($o, FFI::addr($gw));
            if ($status !== 0) {
                throw new RuntimeException('waotp: cannot open the gateway: ' . self::lastError($status));
            }
        } finally {
            $ffi->waotp_options_free(FFI::addr($o));
        }
        $this->gateway = $gw;
    }

    /** Calls waotp_options_set_$setter with $value converted for its $kind. */
    private static function setOption($ffi, $o, $setter, $kind, $value)
    {
        $fn = "waotp_options_set_$setter";
        switch ($kind) {
            case 'string':
                return $ffi->$fn($o, (string)$value);
            case 'bool':
                return $ffi->$fn($o, (bool)$value);
            case 'int':
                return $ffi->$fn($o, (int)$value);
            case 'bytes':
                $value = (string)$value;
                $buf = FFI::new('uint8_t[' . max(1, strlen($value)) . ']');
                FFI::memcpy($buf, $value, strlen($value));
                return $ffi->$fn($o, $buf, strlen($value));
            case 'pacing':
                if ($value === false || $value === null) {
                    return $ffi->$fn($o, false, 0, 0, 0);
                }
                list($gap, $jitter, $maxWait) = array_map('intval', array_values($value));
                return $ffi->$fn($o, true, $gap, $jitter, $maxWait);
            default:
                $values = array_map('intval', array_values((array)$value));
                if (count($values) !== $kind) {
                    return self::refuse("$setter takes $kind integers");
                }
                return $ffi->$fn($o, ...$values);
        }
    }

    /** WAOTP_INVALID_ARGUMENT for a value PHP cannot even pass. */
    private static function refuse($message)
    {
        self::$refused = $message;
        return 10;
    }

    /** @var string|null a message of this class's own refusal */
    private static $refused = null;

    public function __destruct()
    {
        $this->close();
    }

    /** Stops the sessions (credentials stay on disk) and frees the gateway. */
    public function close()
    {
        if ($this->gateway !== null) {
            self::$ffi->waotp_gateway_close(FFI::addr($this->gateway));
            $this->gateway = null;
        }
    }

    /** Creates the session (idempotent) and starts pairing it. */
    public function createSession()
    {
        return $this->call('Session created', function ($ffi, $out) {
            return $ffi->waotp_session_create($this->gateway, $this->sessionId, $out);
        }, function ($id) {
            return ['sessionId' => $id];
        });
    }

    /**
     * The session's status: `data` = ['sessionId', 'state', 'isConnected',
     * 'user' => ['jid', 'phone', 'name'] | null, 'since', 'lastSeen',
     * 'qrRefreshCount', 'reason', 'passkey']. In state 'passkey_required'
     * (the account's linking is gated by a passkey) 'passkey' is
     * ['optionsJson' (WhatsApp's WebAuthn request options, a JSON string),
     * 'expiresAt' (Unix ms), 'snippet' (JavaScript to run in the console of
     * a https://web.whatsapp.com tab; it prints the answer for
     * submitPasskeyAssertion), 'confirmationCode' (what the phone shows, or
     * null)]; otherwise null.
     */
    public function checkSessionStatus()
    {
        return $this->call('Session status', function ($ffi, $out) {
            return $ffi->waotp_session_get_status($this->gateway, $this->sessionId, $out);
        }, [__CLASS__, 'json']);
    }

    /**
     * The pairing QR code. $format: 'raw', 'dataUrl' (for `<img src>`),
     * 'svg', 'terminal' or 'json'; waits up to $waitMs for one to appear.
     * `data` = ['qr' => string].
     */
    public function getQR($format = 'dataUrl', $waitMs = 30000)
    {
        $formats = ['raw' => 0, 'dataUrl' => 1, 'svg' => 2, 'terminal' => 3, 'json' => 4];
        if (!isset($formats[$format])) {
            return ['success' => false, 'message' => "unknown QR format $format", 'error' => 'INVALID_ARGUMENT'];
        }
        return $this->call('QR code', function ($ffi, $out) use ($formats, $format, $waitMs) {
            return $ffi->waotp_session_qr($this->gateway, $this->sessionId, $formats[$format], $waitMs, $out);
        }, function ($qr) {
            return ['qr' => $qr];
        });
    }

    /** Saves the QR code as a PNG file. */
    public function saveQRPng($path, $waitMs = 30000)
    {
        $ffi = self::$ffi;
        $bytes = $ffi->new('waotp_bytes');
        $status = $ffi->waotp_session_qr_png($this->gateway, $this->sessionId, $waitMs, FFI::addr($bytes));
        if ($status !== 0) {
            return self::failure($status);
        }
        $png = FFI::string($bytes->data, $bytes->len);
        $ffi->waotp_bytes_free(FFI::addr($bytes));
        file_put_contents($path, $png);
        return ['success' => true, 'message' => 'QR code saved', 'data' => ['path' => $path]];
    }

    /**
     * Answers WhatsApp's passkey check of the link (state 'passkey_required',
     * see checkSessionStatus): $assertion is what the status's snippet
     * printed, as the JSON text or decoded into an array. `success` once
     * WhatsApp accepted it; the link then completes (waitConnected). Errors:
     * INVALID_ARGUMENT (not an assertion, or no passkey is asked for),
     * PASSKEY_REJECTED, PASSKEY_EXPIRED (both start linking again with a
     * fresh QR code), SESSION_NOT_FOUND.
     */
    public function submitPasskeyAssertion($assertion)
    {
        if (is_array($assertion) || is_object($assertion)) {
            $assertion = json_encode($assertion, JSON_UNESCAPED_SLASHES);
        }
        return $this->callStatus('Passkey accepted', function ($ffi) use ($assertion) {
            return $ffi->waotp_session_submit_passkey($this->gateway, $this->sessionId, (string)$assertion);
        });
    }

    /** Waits until the phone has linked the session; `data` as checkSessionStatus. */
    public function waitConnected($timeoutMs = 120000)
    {
        return $this->call('Session connected', function ($ffi, $out) use ($timeoutMs) {
            return $ffi->waotp_session_wait_connected($this->gateway, $this->sessionId, $timeoutMs, $out);
        }, [__CLASS__, 'json']);
    }

    /**
     * Sends a one-time password to $phoneNumber (`08…`, `+62…` or E.164).
     * `data` = ['otp' => code, 'phoneNumber', 'verificationId', 'messageId',
     * 'expiresAt' (Unix ms), 'companyName'].
     */
    public function sendOTP($phoneNumber, $companyName = 'PT. Contoh')
    {
        $company = self::cString($companyName);
        $req = self::otpRequest($company);
        return $this->call('OTP sent successfully', function ($ffi, $out) use ($phoneNumber, $req) {
            return $ffi->waotp_otp_send($this->gateway, $this->sessionId, $phoneNumber, FFI::addr($req), $out);
        }, function ($json) use ($companyName) {
            return self::sentOtp($json, $companyName);
        });
    }

    /**
     * Sends a one-time password through the best number of a sender pool:
     * the session ids in $sessions, or every session of the data dir when
     * null. The recipient's previous number goes first, then the healthy one
     * with the most new-chat quota left; a refused send fails over to the
     * next number with the same code. `data` as sendOTP, plus 'sessionId'
     * (the number that sent it). When WhatsApp limits every number on new
     * chats: `error` 'ACCOUNT_LIMITED', `retryAfterMs` when a limit's end is
     * known.
     */
    public function sendOTPPool($phoneNumber, $companyName = 'PT. Contoh', $sessions = null)
    {
        $company = self::cString($companyName);
        $req = self::otpRequest($company);
        [$ids, $count, $names] = self::sessionIds($sessions);
        return $this->call('OTP sent successfully', function ($ffi, $out) use ($phoneNumber, $req, $ids, $count, $names) {
            return $ffi->waotp_otp_send_pool($this->gateway, $ids, $count, $phoneNumber, FFI::addr($req), $out);
        }, function ($json) use ($companyName) {
            $sent = self::sentOtp($json, $companyName);
            $sent['sessionId'] = json_decode($json, true)['sessionId'];
            return $sent;
        });
    }

    /**
     * Sends a text through the best number of a sender pool (the numbers and
     * the order of sendOTPPool). `data` = ['messageId', 'sessionId', 'to'];
     * `error` 'ACCOUNT_LIMITED' (with `retryAfterMs` when known) when no
     * number can deliver it.
     */
    public function sendTextPool($phoneNumber, $text, $sessions = null)
    {
        [$ids, $count, $names] = self::sessionIds($sessions);
        return $this->call('Message sent', function ($ffi, $out) use ($phoneNumber, $text, $ids, $count, $names) {
            return $ffi->waotp_send_text_pool($this->gateway, $ids, $count, $phoneNumber, $text, $out);
        }, [__CLASS__, 'json']);
    }

    /**
     * A pool's session ids as C strings: [array or null, count, the strings].
     * The caller keeps the strings alive until the call returns: the array
     * holds pointers into them. null: every session (NULL, 0).
     */
    private static function sessionIds($sessions)
    {
        if ($sessions === null) {
            return [null, 0, []];
        }
        $sessions = array_values((array)$sessions);
        $count = count($sessions);
        $ids = self::$ffi->new('const char *[' . max(1, $count) . ']');
        $names = [];
        foreach ($sessions as $i => $id) {
            $names[$i] = self::cString((string)$id);
            $ids[$i] = FFI::cast('const char *', FFI::addr($names[$i][0]));
        }
        return [$ids, $count, $names];
    }

    /** The C request for a send; $company must outlive it. */
    private static function otpRequest($company)
    {
        $req = self::$ffi->new('waotp_otp_request');
        $req->company_name = FFI::cast('const char *', FFI::addr($company[0]));
        $req->reveal_code = true; // the guide's class hands the code back
        return $req;
    }

    /** A sent OTP in the guide's shape. */
    private static function sentOtp($json, $companyName)
    {
        $r = json_decode($json, true);
        return [
            'otp' => $r['otp'] ?? null,
            'phoneNumber' => $r['to'],
            'verificationId' => $r['verificationId'],
            'messageId' => $r['messageId'],
            'expiresAt' => $r['expiresAt'],
            'companyName' => $companyName,
        ];
    }

    /**
     * Starts an inbound verification: the user sends the code. Show them
     * `data['link']` (a button on a phone) or `data['qrCode']` (a PNG data
     * URL, scanned with the phone on a desktop); WhatsApp opens with
     * `data['text']` written out, they tap send, and this session's number
     * receives it. It costs no new-chat quota and makes the user a known
     * contact. With $expectedPhone only that number approves it; without,
     * any sender does and inboundStatus() names them (login with WhatsApp).
     * $options: 'template' (with {TOKEN}), 'ttl' (seconds), 'reply' (a text
     * sent once approved), 'sessions' (a pool instead of this session; null
     * for every session). `data` = ['verificationId', 'sessionId', 'number',
     * 'text', 'link', 'qrCode', 'expiresAt'].
     */
    public function startInboundVerification($expectedPhone = null, array $options = [])
    {
        $ffi = self::$ffi;
        $req = $ffi->new('waotp_inbound_request');
        // Kept alive until the call returns: the request points into them.
        $strings = [];
        foreach (['expected_phone' => $expectedPhone, 'template_text' => $options['template'] ?? null, 'reply' => $options['reply'] ?? null] as $field => $value) {
            if ($value !== null) {
                $strings[$field] = self::cString($value);
                $req->$field = FFI::cast('const char *', FFI::addr($strings[$field][0]));
            }
        }
        $req->ttl_secs = (int)($options['ttl'] ?? 0);
        $sessions = array_key_exists('sessions', $options) ? $options['sessions'] : [$this->sessionId];
        [$ids, $count, $names] = self::sessionIds($sessions);
        return $this->call('Inbound verification started', function ($ffi, $out) use ($req, $strings, $ids, $count, $names) {
            return $ffi->waotp_inbound_start($this->gateway, $ids, $count, FFI::addr($req), $out);
        }, [__CLASS__, 'json']);
    }

    /**
     * Where an inbound verification stands: `data['status']` (pending,
     * approved, canceled, expired, max_attempts_reached) and, once
     * approved, `data['sender']` (the number that sent the code).
     */
    public function inboundStatus($verificationId)
    {
        return $this->call('Inbound verification status', function ($ffi, $out) use ($verificationId) {
            return $ffi->waotp_inbound_get_status($this->gateway, $verificationId, $out);
        }, [__CLASS__, 'json']);
    }

    /** Cancels a pending inbound verification; `data` as inboundStatus(). */
    public function cancelInboundVerification($verificationId)
    {
        return $this->call('Inbound verification canceled', function ($ffi, $out) use ($verificationId) {
            return $ffi->waotp_inbound_cancel($this->gateway, $verificationId, $out);
        }, [__CLASS__, 'json']);
    }

    /**
     * Checks the code the user typed. `success` is true only when approved;
     * `data` = ['status' => 'approved'|'invalid'|'expired'|'max_attempts'|'not_found',
     * 'attemptsLeft' => int].
     */
    public function verifyOTP($phoneNumber, $otp)
    {
        $ffi = self::$ffi;
        $result = $ffi->new('waotp_verify_result');
        $status = $ffi->waotp_otp_verify($this->gateway, $phoneNumber, (string)$otp, FFI::addr($result));
        if ($status !== 0) {
            return self::failure($status);
        }
        $names = ['approved', 'invalid', 'expired', 'max_attempts', 'not_found'];
        $messages = [
            'approved' => 'OTP verified successfully',
            'invalid' => 'Invalid OTP',
            'expired' => 'OTP has expired',
            'max_attempts' => 'Too many attempts',
            'not_found' => 'OTP not found',
        ];
        $name = $names[$result->outcome] ?? 'not_found';
        return [
            'success' => $name === 'approved',
            'message' => $messages[$name],
            'data' => ['status' => $name, 'attemptsLeft' => $result->attempts_left],
        ];
    }

    /** Sends a text message; `data` = ['messageId']. */
    public function sendText($phoneNumber, $text, $idempotencyKey = null)
    {
        return $this->call('Message sent', function ($ffi, $out) use ($phoneNumber, $text, $idempotencyKey) {
            return $ffi->waotp_session_send_text($this->gateway, $this->sessionId, $phoneNumber, $text, $idempotencyKey, $out);
        }, function ($id) {
            return ['messageId' => $id];
        });
    }

    /** The recipient's latest OTP (status, delivery, attempts); never the code. */
    public function otpStatus($phoneNumber)
    {
        return $this->call('OTP status', function ($ffi, $out) use ($phoneNumber) {
            return $ffi->waotp_otp_get_status($this->gateway, $phoneNumber, $out);
        }, [__CLASS__, 'json']);
    }

    /** Monitoring figures: `data` = ['gateway' => [...], 'sessions' => [id => [...]]]. */
    public function getStats()
    {
        return $this->call('Stats', function ($ffi, $out) {
            return $ffi->waotp_stats_get($this->gateway, $out);
        }, [__CLASS__, 'json']);
    }

    /** Sandbox builds opened with `manualClock`: moves OTP time forward. */
    public function advanceTestClock($ms)
    {
        $status = self::$ffi->waotp_test_clock_advance($this->gateway, $ms);
        return $status === 0 ? ['success' => true, 'message' => 'Clock advanced'] : self::failure($status);
    }

    // --- the thin FFI layer -------------------------------------------------

    /** Calls $fn($ffi, char** out); on success converts the string with $convert. */
    private function call($message, callable $fn, callable $convert)
    {
        if ($this->gateway === null) {
            return ['success' => false, 'message' => 'the gateway is closed', 'error' => 'CLOSED'];
        }
        $ffi = self::$ffi;
        $out = $ffi->new('char*');
        $status = $fn($ffi, FFI::addr($out));
        if ($status !== 0) {
            return self::failure($status);
        }
        $text = FFI::string($out);
        $ffi->waotp_string_free(FFI::addr($out));
        return ['success' => true, 'message' => $message, 'data' => $convert($text)];
    }

    /** Calls $fn($ffi) for a function with no output: `success` and `message` only. */
    private function callStatus($message, callable $fn)
    {
        if ($this->gateway === null) {
            return ['success' => false, 'message' => 'the gateway is closed', 'error' => 'CLOSED'];
        }
        $status = $fn(self::$ffi);
        return $status === 0 ? ['success' => true, 'message' => $message] : self::failure($status);
    }

    private static function json($text)
    {
        return json_decode($text, true);
    }

    /**
     * The guide's failure array; a rate limit adds `retryAfterMs`, the wait
     * in milliseconds (the same field as every other binding's).
     */
    private static function failure($status)
    {
        $ffi = self::$ffi;
        $failure = ['success' => false, 'message' => self::lastError($status), 'error' => $ffi->waotp_status_code_name($status)];
        if ($failure['error'] === 'RATE_LIMITED' || $failure['error'] === 'ACCOUNT_LIMITED') {
            $failure['retryAfterMs'] = $ffi->waotp_last_error_retry_after_ms();
        }
        return $failure;
    }

    private static function lastError($status)
    {
        if (self::$refused !== null) {
            $text = self::$refused;
            self::$refused = null;
            return $text;
        }
        $ffi = self::$ffi;
        $len = $ffi->new('size_t');
        $ffi->waotp_last_error_message(null, 0, FFI::addr($len));
        $buf = $ffi->new('char[' . ($len->cdata + 1) . ']');
        $ffi->waotp_last_error_message($buf, $len->cdata + 1, FFI::addr($len));
        $text = FFI::string($buf);
        return $text !== '' ? $text : $ffi->waotp_status_code_name($status);
    }

    /** A NUL-terminated copy of $s in C memory (freed with the returned CData). */
    private static function cString($s)
    {
        $s = (string)$s;
        $buf = FFI::new('char[' . (strlen($s) + 1) . ']', true);
        FFI::memcpy($buf, $s, strlen($s));
        $buf[strlen($s)] = "\0";
        return $buf;
    }

    private static function ffi(array $options)
    {
        if (self::$ffi === null) {
            $root = dirname(__DIR__, 2);
            $lib = $options['library'] ?? (getenv('WAOTP_LIB') ?: "$root/target/release/libwaotp.so");
            $header = $options['header'] ?? "$root/include/waotp_php.h";
            self::$ffi = FFI::cdef(file_get_contents($header), $lib);
        }
        return self::$ffi;
    }
}
