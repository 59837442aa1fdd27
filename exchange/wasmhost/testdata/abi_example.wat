(module
  (memory (export "memory") 1)
  ;; The answer, at offset 1024 (76 bytes).
  (data (i32.const 1024) "{\"error\":{\"code\":\"subject_not_found\",\"message\":\"this example knows nobody\"}}")
  ;; One input buffer at 4096 is enough for a module that handles one call
  ;; at a time and reads inputs of up to 60 KiB; a real adapter allocates
  ;; (memory.grow, or its language's allocator).
  (func (export "pont_alloc") (param $size i32) (result i32)
    (i32.const 4096))
  (func (export "pont_handle") (param $ptr i32) (param $len i32) (result i64)
    ;; (1024 << 32) | 76
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 76))))
