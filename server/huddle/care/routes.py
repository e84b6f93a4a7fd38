"""HTTP endpoints for patients, care teams and break-glass access."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from huddle.care import caseloads, erasure, service
from huddle.care.schemas import (
    BreakGlassIn,
    BreakGlassOut,
    CareTeamMemberIn,
    CareTeamMemberOut,
    CareTeamOut,
    CaseloadList,
    CaseloadOut,
    CaseloadTransferIn,
    CaseloadTransferOut,
    PatientIn,
    PatientList,
    PatientOut,
    PatientPatch,
)
from huddle.dependencies import CurrentActor, Rt


def _team(patient_id: uuid.UUID, entries: list[service.CareTeamEntry]) -> CareTeamOut:
    return CareTeamOut(patient_id, [CareTeamMemberOut.of(e) for e in entries])


class PatientsController(Controller):
    path = "/api/v1/patients"
    tags = ["patients"]

    @get("")
    async def find(
        self,
        rt: Rt,
        actor: CurrentActor,
        mrn: FromQuery[str | None] = None,
        phone: FromQuery[str | None] = None,
    ) -> PatientList:
        """Patients you may see (your care teams, break-glass grants, or your own record);
        narrow by exact `mrn` or `phone`. Every patient listed is an audited read."""
        views = await service.find_patients(rt, actor, mrn=mrn, phone=phone)
        return PatientList([PatientOut.of(v) for v in views], len(views))

    @post("")
    async def create(self, data: JSONBody[PatientIn], rt: Rt, actor: CurrentActor) -> PatientOut:
        """Clinical staff: register a patient; you join the care team."""
        draft = service.PatientDraft(
            data.full_name, data.date_of_birth, data.mrn, data.phone, data.email, data.sensitivity
        )
        return PatientOut.of(await service.create_patient(rt, actor, draft))

    @get("/{patient_id:uuid}")
    async def read(
        self, patient_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> PatientOut:
        """One patient record (audited)."""
        return PatientOut.of(await service.get_patient(rt, actor, patient_id))

    @patch("/{patient_id:uuid}")
    async def update(
        self,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[PatientPatch],
        rt: Rt,
        actor: CurrentActor,
    ) -> PatientOut:
        """Change identifiers or the sensitivity label (care team only)."""
        changes = service.PatientChanges(
            data.full_name, data.date_of_birth, data.mrn, data.phone, data.email, data.sensitivity
        )
        return PatientOut.of(await service.update_patient(rt, actor, patient_id, changes))

    @delete("/{patient_id:uuid}")
    async def erase(self, patient_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor) -> None:
        """Admin: erase a patient for good (crypto-shredding); the audit trail remains."""
        await erasure.erase_patient(rt, actor, patient_id)

    @get("/{patient_id:uuid}/care-team")
    async def care_team(
        self, patient_id: FromPath[uuid.UUID], rt: Rt, actor: CurrentActor
    ) -> CareTeamOut:
        """Who is on the patient's care team."""
        return _team(patient_id, await service.get_care_team(rt, actor, patient_id))

    @post("/{patient_id:uuid}/care-team", status_code=HTTP_200_OK)
    async def add_member(
        self,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[CareTeamMemberIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> CareTeamOut:
        """Care team: add a colleague with a team role."""
        entries = await service.add_care_team_member(
            rt, actor, patient_id, data.user_id, data.team_role
        )
        return _team(patient_id, entries)

    @delete("/{patient_id:uuid}/care-team/{user_id:uuid}", status_code=HTTP_200_OK)
    async def remove_member(
        self,
        patient_id: FromPath[uuid.UUID],
        user_id: FromPath[uuid.UUID],
        rt: Rt,
        actor: CurrentActor,
    ) -> CareTeamOut:
        """Care team: remove a member (the last one stays)."""
        entries = await service.remove_care_team_member(rt, actor, patient_id, user_id)
        return _team(patient_id, entries)

    @post("/{patient_id:uuid}/break-glass", status_code=HTTP_200_OK)
    async def break_glass(
        self,
        patient_id: FromPath[uuid.UUID],
        data: JSONBody[BreakGlassIn],
        rt: Rt,
        actor: CurrentActor,
    ) -> BreakGlassOut:
        """Clinical staff outside the care team: open the record for one hour, stating why.
        Flagged for compliance review."""
        grant = await service.break_glass(rt, actor, patient_id, data.reason)
        return BreakGlassOut(grant.patient_id, grant.expires_at)


class CaseloadsController(Controller):
    """Administrators move clinicians' care-team memberships without seeing any patient:
    the answers carry counts only (see care/caseloads.py)."""

    path = "/api/v1/caseloads"
    tags = ["care teams"]

    @get("")
    async def list_caseloads(self, rt: Rt, actor: CurrentActor) -> CaseloadList:
        """Admin: each clinician and the number of care teams they are on."""
        found = [CaseloadOut.of(c) for c in await caseloads.list_caseloads(rt, actor)]
        return CaseloadList(found, len(found))

    @post("/transfer", status_code=HTTP_200_OK)
    async def transfer(
        self, data: JSONBody[CaseloadTransferIn], rt: Rt, actor: CurrentActor
    ) -> CaseloadTransferOut:
        """Admin: move every care-team membership of one clinician to another of the same
        role (active); safe to repeat. Audited per patient; answers counts only."""
        done = await caseloads.transfer_caseload(rt, actor, data.from_user_id, data.to_user_id)
        return CaseloadTransferOut(
            done.transferred,
            done.already_on_team,
            CaseloadOut.of(done.source),
            CaseloadOut.of(done.target),
        )


CONTROLLERS = [PatientsController, CaseloadsController]
