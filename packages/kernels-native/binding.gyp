{
  # One addon, three kernel sets. The ISA-specific files are static libraries
  # because gyp sets compiler flags per target, not per file: only they get
  # -mavx2/-mavx512f, so the addon itself loads on any x86-64 (and arm64, where
  # only the generic kernels are built) and picks a kernel set at run time.
  'variables': {
    'gm_opt': ['-O3', '-fno-math-errno', '-ffp-contract=off', '-fPIC', '-fvisibility=hidden'],
  },
  'targets': [
    {
      'target_name': 'gradmesh_kernels',
      'sources': ['csrc/addon.cc', 'csrc/gemm_generic.cc'],
      'cflags_cc': ['<@(gm_opt)'],
      'xcode_settings': { 'OTHER_CPLUSPLUSFLAGS': ['-O3', '-ffp-contract=off', '-std=c++17'] },
      'msvs_settings': { 'VCCLCompilerTool': { 'AdditionalOptions': ['/std:c++17', '/O2'] } },
      'conditions': [
        ['target_arch=="x64"', {
          'dependencies': ['gradmesh_avx2', 'gradmesh_avx512'],
        }],
      ],
    },
  ],
  'conditions': [
    ['target_arch=="x64"', {
      'targets': [
        {
          'target_name': 'gradmesh_avx2',
          'type': 'static_library',
          'sources': ['csrc/gemm_avx2.cc'],
          'cflags_cc': ['<@(gm_opt)', '-mavx2', '-mfma'],
          'xcode_settings': { 'OTHER_CPLUSPLUSFLAGS': ['-O3', '-std=c++17', '-mavx2', '-mfma'] },
          'msvs_settings': { 'VCCLCompilerTool': { 'AdditionalOptions': ['/std:c++17', '/O2', '/arch:AVX2'] } },
        },
        {
          'target_name': 'gradmesh_avx512',
          'type': 'static_library',
          'sources': ['csrc/gemm_avx512.cc'],
          'cflags_cc': ['<@(gm_opt)', '-mavx512f', '-mavx2', '-mfma'],
          'xcode_settings': { 'OTHER_CPLUSPLUSFLAGS': ['-O3', '-std=c++17', '-mavx512f', '-mavx2', '-mfma'] },
          'msvs_settings': { 'VCCLCompilerTool': { 'AdditionalOptions': ['/std:c++17', '/O2', '/arch:AVX512'] } },
        },
      ],
    }],
  ],
}
