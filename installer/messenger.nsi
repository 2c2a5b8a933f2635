; The per-user setup EXE: no admin rights, installs into the user's own program folder.
; Built by build/installers.py, which defines VERSION, FILE_VERSION (four numbers), PAYLOAD (the onedir folder),
; ICON (build/app_icon.py's messenger.ico), PROGRAM_SOURCE and CLI_SOURCE (its two program files: messenger.exe, the windowed desktop client, and
; messenger-cli.exe, the console one), OUTFILE, TARGET, APP_USER_MODEL_ID and, optionally, ARCHIVE and
; SIGN_COMMAND (build/sign.py with %1 for the file).
; Silent: messenger-X-setup.exe /S [/SERVER_URL=https://chat.office:5000] [/SERVER_FINGERPRINT=AB12...] [/UPDATE_CHANNEL=canary]
;         [/START_AT_LOGIN=1]   Uninstall: "%LOCALAPPDATA%\Programs\Messenger\uninstall.exe" /S
; /BOOTSTRAP: run at each sign-in by the per-user bootstrap MSI (messenger-X-per-user.msi), it
; installs silently, once per user: never over an install there, nor again for a user who removed it.

Unicode true
Target ${TARGET}
!include MUI2.nsh
!include FileFunc.nsh
!include LogicLib.nsh
!include Sections.nsh
!include StrFunc.nsh
${StrStr}
${StrLoc}

!define REG_KEY "Software\Messenger"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\Messenger"
!define RUN_KEY "Software\Microsoft\Windows\CurrentVersion\Run"
; The toasts' room links, registered by the client at its start (windows_shell.py).
!define ROOM_LINKS_KEY "Software\Classes\office-messenger"
; Outside REG_KEY, which the uninstaller removes: a user who removed the program keeps it removed.
!define BOOTSTRAP_KEY "Software\Messenger Bootstrap"
; The hidden window of a running client (messenger/client/services/windows_shell.py QUIT_WINDOW_CLASS).
!define CLIENT_WINDOW_CLASS "Office.Messenger.Client"
!define CLOSE_WAIT_TENTHS 300  ; 30 s for the client to quit and its files to come free

Name "Messenger"
OutFile "${OUTFILE}"
!ifdef SIGN_COMMAND
    ; build/sign.py on the setup EXE and, before it is packed in, on the uninstaller (NSIS 3.08+).
    !finalize '${SIGN_COMMAND}' = 0
    !uninstfinalize '${SIGN_COMMAND}' = 0
!endif
RequestExecutionLevel user
InstallDir "$LOCALAPPDATA\Programs\Messenger"
SetCompressor /SOLID lzma
VIProductVersion "${FILE_VERSION}"
VIAddVersionKey /LANG=0 "ProductName" "Messenger"
VIAddVersionKey /LANG=0 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=0 "FileDescription" "Messenger setup"

; The program's icon on the setup EXE, on the uninstaller it lays down and on their pages.
!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_FINISHPAGE_RUN "$INSTDIR\messenger.exe"
!insertmacro MUI_PAGE_COMPONENTS
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"
!insertmacro MUI_LANGUAGE "Korean"

; OUT = the value of NAME (e.g. "/SERVER_URL=") in PARAMS, up to the next " /"; "" when absent.
; (FileFunc's GetOptions would cut a URL at its first "/".)
!macro OptionValue PARAMS NAME OUT
    ${StrStr} ${OUT} "${PARAMS}" "${NAME}"
    ${If} ${OUT} != ""
        StrLen $9 "${NAME}"
        StrCpy ${OUT} ${OUT} "" $9
        ${StrLoc} $9 ${OUT} " /" ">"
        ${If} $9 != ""
            StrCpy ${OUT} ${OUT} $9
        ${EndIf}
    ${EndIf}
!macroend

LangString ProgramSection ${LANG_ENGLISH} "Messenger"
LangString ProgramSection ${LANG_KOREAN} "메신저"
LangString StartAtLoginSection ${LANG_ENGLISH} "Start Messenger when I sign in"
LangString StartAtLoginSection ${LANG_KOREAN} "로그인할 때 메신저 시작"

Section "!$(ProgramSection)" ProgramSection
    SectionIn RO
    Call CloseRunningClient
    ; An update the client downloaded before this install must not replace it at the next start
    ; (the client also refuses a staged version not newer than the installed one).
    RMDir /r "$INSTDIR.update"
    ; The updater swaps files in place (<install>.update, <install>.previous): an installer run
    ; over an older install simply replaces the program.
    SetOutPath "$INSTDIR"
    File /r /x "${PROGRAM_SOURCE}" /x "${CLI_SOURCE}" "${PAYLOAD}\*.*"
    File "/oname=messenger.exe" "${PAYLOAD}\${PROGRAM_SOURCE}"
    File "/oname=messenger-cli.exe" "${PAYLOAD}\${CLI_SOURCE}"
    WriteUninstaller "$INSTDIR\uninstall.exe"
    CreateShortcut "$SMPROGRAMS\Messenger.lnk" "$INSTDIR\messenger.exe"
    Call ClaimShortcutAppId
!ifdef ARCHIVE
    ; The installed release's update archive, where the updater looks for it (its data folder's
    ; updates\targets), so the first update downloads a patch instead of the whole program.
    SetOutPath "$LOCALAPPDATA\messenger\updates\targets"
    File "/oname=messenger-${VERSION}.tar.gz" "${ARCHIVE}"
    SetOutPath "$INSTDIR"
!endif

    ${GetParameters} $R0
    !insertmacro OptionValue $R0 "/SERVER_URL=" $R1
    ${If} $R1 != ""
        WriteRegStr HKCU "${REG_KEY}" "ServerUrl" "$R1"
    ${EndIf}
    !insertmacro OptionValue $R0 "/SERVER_FINGERPRINT=" $R1
    ${If} $R1 != ""
        WriteRegStr HKCU "${REG_KEY}" "ServerFingerprint" "$R1"
    ${EndIf}
    !insertmacro OptionValue $R0 "/UPDATE_CHANNEL=" $R1
    ${If} $R1 != ""
        WriteRegStr HKCU "${REG_KEY}" "UpdateChannel" "$R1"
    ${EndIf}
    WriteRegStr HKCU "${REG_KEY}" "InstallDir" "$INSTDIR"
    ; Re-added by the start-at-login section when it is chosen; StartAtLogin is the client's
    ; preset for its setting, so its first start keeps the Run value instead of removing it.
    DeleteRegValue HKCU "${RUN_KEY}" "Messenger"
    WriteRegDWORD HKCU "${REG_KEY}" "StartAtLogin" 0

    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "Messenger"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "Messenger"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\messenger.exe"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
    WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
    WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
    WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
    WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
SectionEnd

; Windows shows the program's notifications only through a Start-menu shortcut with its
; AppUserModelID (System.AppUserModel.ID, written through the shortcut's IPropertyStore).
Function ClaimShortcutAppId
    ; IShellLinkW from CLSID_ShellLink
    System::Call 'ole32::CoCreateInstance(g "{00021401-0000-0000-C000-000000000046}", p 0, i 1, g "{000214F9-0000-0000-C000-000000000046}", *p .r1) i .r0'
    ${If} $0 <> 0
        Return
    ${EndIf}
    System::Call '$1->0(g "{0000010b-0000-0000-C000-000000000046}", *p .r2)'  ; IPersistFile
    System::Call '$2->5(w "$SMPROGRAMS\Messenger.lnk", i 2)'  ; Load, read-write
    System::Call '$1->0(g "{886D8EEB-8CF2-4446-8D02-CDBA1DBDCF99}", *p .r3)'  ; IPropertyStore
    System::Call '*(g "{9F4C2855-9F79-4B39-A8D0-E1D42DE1D5F3}", i 5) p .r4'  ; PKEY_AppUserModel_ID
    System::Call '*(&w64 "${APP_USER_MODEL_ID}") p .r6'
    System::Call '*(&i2 31, &i2 0, &i2 0, &i2 0, p r6, p 0) p .r5'  ; PROPVARIANT, VT_LPWSTR
    System::Call '$3->6(p r4, p r5)'  ; SetValue
    System::Call '$3->7()'  ; Commit
    System::Call '$2->6(p 0, i 1)'  ; Save
    System::Call '$3->2()'
    System::Call '$2->2()'
    System::Call '$1->2()'
    System::Free $4
    System::Free $5
    System::Free $6
FunctionEnd

Section /o "$(StartAtLoginSection)" StartAtLoginSection
    WriteRegStr HKCU "${RUN_KEY}" "Messenger" '"$INSTDIR\messenger.exe"'
    WriteRegDWORD HKCU "${REG_KEY}" "StartAtLogin" 1
SectionEnd

LangString ClientStillRuns ${LANG_ENGLISH} "Messenger is still running from $INSTDIR. Quit it (tray icon > Quit) and click Retry."
LangString ClientStillRuns ${LANG_KOREAN} "메신저가 아직 실행 중입니다($INSTDIR). 트레이 아이콘에서 종료한 뒤 다시 시도를 누르세요."

; Ask a running client to quit (WM_CLOSE to its hidden window), then wait until both programs
; can be opened for writing (a `messenger-cli` still running holds its file too). Silent
; installs give up after CLOSE_WAIT_TENTHS with exit code 2 rather than install half the files.
!macro CloseRunningClientBody
    FindWindow $0 "${CLIENT_WINDOW_CLASS}" ""
    ${If} $0 <> 0
        SendMessage $0 ${WM_CLOSE} 0 0 /TIMEOUT=5000
    ${EndIf}
    StrCpy $1 0
    ${Do}
        StrCpy $2 ""  ; the first program still in use
        FindWindow $0 "${CLIENT_WINDOW_CLASS}" ""
        ${If} $0 <> 0
            StrCpy $2 "window"
        ${EndIf}
        ${If} $2 == ""
        ${AndIf} ${FileExists} "$INSTDIR\messenger.exe"
            ClearErrors
            FileOpen $3 "$INSTDIR\messenger.exe" a
            ${If} ${Errors}
                StrCpy $2 "messenger.exe"
            ${Else}
                FileClose $3
            ${EndIf}
        ${EndIf}
        ${If} $2 == ""
        ${AndIf} ${FileExists} "$INSTDIR\messenger-cli.exe"
            ClearErrors
            FileOpen $3 "$INSTDIR\messenger-cli.exe" a
            ${If} ${Errors}
                StrCpy $2 "messenger-cli.exe"
            ${Else}
                FileClose $3
            ${EndIf}
        ${EndIf}
        ${If} $2 == ""
            ${Break}
        ${EndIf}
        IntOp $1 $1 + 1
        ${If} $1 >= ${CLOSE_WAIT_TENTHS}
            DetailPrint "still in use: $2"
            IfSilent 0 +3
                SetErrorLevel 2
                Quit
            MessageBox MB_RETRYCANCEL|MB_ICONEXCLAMATION "$(ClientStillRuns)" IDRETRY +3
                SetErrorLevel 2
                Quit
            StrCpy $1 0
        ${EndIf}
        Sleep 100
    ${Loop}
!macroend

Function CloseRunningClient
    !insertmacro CloseRunningClientBody
FunctionEnd

Function un.CloseRunningClient
    !insertmacro CloseRunningClientBody
FunctionEnd

Function .onInit
    ${GetParameters} $R0
    ${StrStr} $R1 "$R0" "/BOOTSTRAP"
    ${If} $R1 != ""
        ReadRegStr $R1 HKCU "${BOOTSTRAP_KEY}" "Installed"
        ReadRegStr $R2 HKCU "${REG_KEY}" "InstallDir"
        ${If} $R1 != ""
        ${OrIf} $R2 != ""
            SetErrorLevel 0  ; nothing to do is no failure (Quit alone exits with 2, "cancelled")
            Quit
        ${EndIf}
        WriteRegStr HKCU "${BOOTSTRAP_KEY}" "Installed" "${VERSION}"
        SetSilent silent
    ${EndIf}
    ; Chosen on the command line, or kept from the install this one replaces.
    !insertmacro OptionValue $R0 "/START_AT_LOGIN=" $R1
    ${If} $R1 == ""
        ReadRegStr $R1 HKCU "${RUN_KEY}" "Messenger"
        ${If} $R1 != ""
            StrCpy $R1 "1"
        ${EndIf}
    ${EndIf}
    ${If} $R1 == "1"
        !insertmacro SelectSection ${StartAtLoginSection}
    ${EndIf}
FunctionEnd

Section "Uninstall"
    Call un.CloseRunningClient
    Delete "$SMPROGRAMS\Messenger.lnk"
    DeleteRegValue HKCU "${RUN_KEY}" "Messenger"
    DeleteRegKey HKCU "${UNINSTALL_KEY}"
    DeleteRegKey HKCU "${REG_KEY}"
    DeleteRegKey HKCU "${ROOM_LINKS_KEY}"
    RMDir /r "$INSTDIR.update"
    RMDir /r "$INSTDIR.previous"
    RMDir /r "$INSTDIR"
SectionEnd
